//! The `elastos` command in Linux.

fn main() {
    eprintln!("elastos: not built yet");
    std::process::exit(2);
}
