/* LeakSanitizer's default options in the sanitized build (BNCHECK_SANITIZE), compiled
 * into every program that links bncheck's libraries. use_tls=0: the leak check at exit
 * does not read the threads' thread-local storage. Reading the dynamic TLS of the
 * OpenMP worker threads that oneDNN starts, from a module loaded with dlopen (LibTorch
 * and oneDNN load on first use), crashes LeakSanitizer's tracer ("Tracer caught signal
 * 11"), which fails a run that found nothing wrong. Leaks are still checked from the
 * stacks, registers and globals. */
const char* __lsan_default_options(void);
const char* __lsan_default_options(void) { return "use_tls=0"; }
