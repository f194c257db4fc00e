/* gzip compression for exports (core/gzip.c): the output is a gzip stream that inflates back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/gzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void round_trips_through_gunzip(void **state) {
  (void)state;
  char text[20000];
  for (size_t i = 0; i < sizeof text; i++)
    text[i] = (char)('a' + i % 7);
  char *gz;
  size_t gz_len;
  assert_int_equal(gzip_compress(text, sizeof text, &gz, &gz_len), TE_OK);
  assert_true(gz_len < sizeof text);
  assert_int_equal((unsigned char)gz[0], 0x1f); /* gzip magic */
  assert_int_equal((unsigned char)gz[1], 0x8b);
  z_stream z = {0};
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  char back[sizeof text + 16];
  z.next_in = (Bytef *)gz;
  z.avail_in = (uInt)gz_len;
  z.next_out = (Bytef *)back;
  z.avail_out = sizeof back;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  assert_int_equal(z.total_out, sizeof text);
  inflateEnd(&z);
  assert_memory_equal(back, text, sizeof text);
  free(gz);
}

static void empty_input_is_a_valid_stream(void **state) {
  (void)state;
  char *gz;
  size_t gz_len;
  assert_int_equal(gzip_compress("", 0, &gz, &gz_len), TE_OK);
  assert_true(gz_len >= 18); /* header + trailer */
  free(gz);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(round_trips_through_gunzip),
      cmocka_unit_test(empty_input_is_a_valid_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
