fn main() -> std::process::ExitCode {
    libsette::cli::main()
}

// glibc's malloc took a sixth of an uncached read's CPU, much of it in arena
// locks shared by the async workers and the blocking pool.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
