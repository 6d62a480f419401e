// Every request allocates; mimalloc's thread-local free lists cost a fraction
// of glibc's malloc (see BENCHMARKS.md, issue 17).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    libsette::cli::main()
}
