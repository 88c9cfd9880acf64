//! The `hub` command-line tool.

fn main() {
    println!("hub");
}
