// Every request allocates; mimalloc's thread-local free lists cost a fraction
// of glibc's malloc (see BENCHMARKS.md, issue 17).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// On Linux mimalloc commits its arenas up front, and the server's RSS then
// kept about 50 MB more after visiting 10,000 spaces than with glibc's
// malloc. Committed on demand, it measured as glibc's. The option is set
// in a constructor that runs before mimalloc's own (priority 101), which
// reads its options and may reserve the first arena.
#[used]
#[unsafe(link_section = ".init_array.00100")]
static COMMIT_ARENAS_ON_DEMAND: extern "C" fn() = commit_arenas_on_demand;

extern "C" fn commit_arenas_on_demand() {
    /// `mi_option_arena_eager_commit` in mimalloc's `mi_option_t`.
    const ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
    unsafe extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: mi_option_set only stores an option's value, at any time.
    unsafe { mi_option_set(ARENA_EAGER_COMMIT, 0) }
}

fn main() -> std::process::ExitCode {
    libsette::cli::main()
}
