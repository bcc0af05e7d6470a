/* LeakSanitizer's defaults in the sanitized build (BNCHECK_SANITIZE), compiled into
 * every program that links bncheck's libraries.
 *
 * use_tls=0: the leak check at exit does not read the threads' thread-local storage.
 * Reading the dynamic TLS of the OpenMP worker threads that oneDNN and LibTorch start,
 * from modules loaded with dlopen (they load on first use), crashes LeakSanitizer's
 * tracer ("Tracer caught signal 11") and fails a run that found nothing wrong.
 *
 * Without TLS as a root, blocks that only TLS points to read as leaks: the dynamic
 * loader's per-thread TLS blocks and what the third-party libraries keep per thread.
 * Those are suppressed by the frames that allocate them (the loader, GLib, libgomp,
 * LibTorch, oneDNN); a leak with none of them on its stack is still reported. */
const char* __lsan_default_options(void);
const char* __lsan_default_options(void) { return "use_tls=0"; }

const char* __lsan_default_suppressions(void);
const char* __lsan_default_suppressions(void) {
  return "leak:_dl_resize_dtv\n"
         "leak:_dl_allocate_tls\n"
         "leak:dl_open_worker_begin\n"
         "leak:_dl_map_object_deps\n"
         "leak:_dlerror_run\n"
         "leak:_dl_exception_create\n"
         "leak:libglib-2.0.so\n"
         "leak:libgomp.so\n"
         "leak:libtorch_cpu.so\n"
         "leak:libc10.so\n"
         "leak:libdnnl.so\n";
}
