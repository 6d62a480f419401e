fn main() -> std::process::ExitCode {
    libsette::cli::main()
}
