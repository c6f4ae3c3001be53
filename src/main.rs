fn main() -> std::process::ExitCode {
    otarig::cli::main()
}
