/* mlx-rs seeds its default random state with mach_approximate_time(), which exists only on
 * Darwin. Off Apple targets we provide it: a monotonic clock in nanoseconds serves the same
 * purpose (a varying seed). */
#if !defined(__APPLE__)
#include <stdint.h>
#include <time.h>

uint64_t mach_approximate_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif
