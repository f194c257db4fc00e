/* The rendered-/api/user cache (api/view_cache.c): exact (user, version) hits, no copy per hit,
 * and a body that outlives its slot for as long as a reply holds it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api/view_cache.h"

#include <string.h>

static void hits_only_the_exact_user_and_version(void **state) {
  (void)state;
  assert_null(view_cache_get(7, 1));
  view_cache_put(7, 0, "{\"never\":true}"); /* version 0: a store without a cache */
  assert_null(view_cache_get(7, 0));
  view_cache_put(7, 3, "{\"id\":7}");
  const struct view_body *b = view_cache_get(7, 3);
  assert_non_null(b);
  assert_string_equal(b->text, "{\"id\":7}");
  assert_int_equal(b->len, strlen("{\"id\":7}"));
  view_body_release((void *)b);
  assert_null(view_cache_get(7, 4));        /* another version */
  assert_null(view_cache_get(7 + 1024, 3)); /* another user in the same slot */
}

static void a_hit_is_a_reference_not_a_copy(void **state) {
  (void)state;
  view_cache_put(8, 1, "{\"id\":8}");
  const struct view_body *a = view_cache_get(8, 1), *b = view_cache_get(8, 1);
  assert_non_null(a);
  assert_ptr_equal(a, b);
  assert_ptr_equal(a->text, b->text);
  view_body_release((void *)a);
  view_body_release((void *)b);
}

/* A reply may still be sending a body when a write replaces it in the cache: it must stay whole
 * until released (under ASan, a use after free fails here). */
static void a_held_body_survives_its_replacement(void **state) {
  (void)state;
  view_cache_put(9, 1, "{\"id\":9,\"v\":1}");
  const struct view_body *held = view_cache_get(9, 1);
  assert_non_null(held);
  view_cache_put(9, 2, "{\"id\":9,\"v\":2}");
  view_cache_put(9 + 1024, 5, "{\"other\":true}"); /* and the slot taken by another user */
  assert_string_equal(held->text, "{\"id\":9,\"v\":1}");
  assert_null(view_cache_get(9, 1));
  assert_null(view_cache_get(9, 2));
  const struct view_body *other = view_cache_get(9 + 1024, 5);
  assert_non_null(other);
  assert_string_equal(other->text, "{\"other\":true}");
  view_body_release((void *)other);
  view_body_release((void *)held); /* the last reference: freed now */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hits_only_the_exact_user_and_version),
      cmocka_unit_test(a_hit_is_a_reference_not_a_copy),
      cmocka_unit_test(a_held_body_survives_its_replacement),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
