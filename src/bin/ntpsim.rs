fn main() {
    eprintln!("ntpsim: not implemented yet");
    std::process::exit(2);
}
