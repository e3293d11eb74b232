#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

static void clear_env(void) {
  unsetenv("FOOTFALL_PORT");
  unsetenv("FOOTFALL_CONFIG");
  unsetenv("FOOTFALL_MAX_BODY_BYTES");
}

Test(config, defaults) {
  clear_env();
  struct config c;
  struct ff_error err = {0};
  int help = 0;
  char *argv[] = {"server", NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 1, argv, &help, &err), FF_OK, "%s", err.message);
  cr_assert_eq(c.port, 8080);
  cr_assert_eq(c.max_body_bytes, 1024 * 1024);
  cr_assert_str_eq(c.listen, "127.0.0.1");
  cr_assert_null(c.database_url);
  config_free(&c);
}

Test(config, precedence_file_env_flag) {
  clear_env();
  char path[] = "/tmp/footfall-config-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  dprintf(fd, "# comment\nport = 9000\nlisten = 0.0.0.0\nmax-body-bytes = 2m\n");
  close(fd);
  setenv("FOOTFALL_PORT", "9100", 1);
  struct config c;
  struct ff_error err = {0};
  int help = 0;
  char *argv[] = {"server", "--config", path, NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 3, argv, &help, &err), FF_OK, "%s", err.message);
  cr_assert_eq(c.port, 9100, "environment beats the file");
  cr_assert_str_eq(c.listen, "0.0.0.0", "the file beats the default");
  cr_assert_eq(c.max_body_bytes, 2 * 1024 * 1024);
  config_free(&c);
  char *argv2[] = {"server", "--config", path, "--port=9200", NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 4, argv2, &help, &err), FF_OK, "%s", err.message);
  cr_assert_eq(c.port, 9200, "a flag beats everything");
  config_free(&c);
  unlink(path);
  clear_env();
}

Test(config, bad_values_are_refused_with_a_message) {
  clear_env();
  struct config c;
  struct ff_error err = {0};
  int help = 0;
  char *a1[] = {"server", "--port", "eighty", NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 3, a1, &help, &err), FF_EINVAL);
  cr_assert(strstr(err.message, "port"), "%s", err.message);
  config_free(&c);
  char *a2[] = {"server", "--no-such-thing", "1", NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 3, a2, &help, &err), FF_EINVAL);
  cr_assert(strstr(err.message, "no-such-thing"), "%s", err.message);
  config_free(&c);
  char *a3[] = {"server", "--max-body-bytes", "12q", NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 3, a3, &help, &err), FF_EINVAL);
  config_free(&c);
  char *a4[] = {"server", "--port", NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 2, a4, &help, &err), FF_EINVAL);
  config_free(&c);
  setenv("FOOTFALL_PORT", "-5", 1);
  char *a5[] = {"server", NULL};
  cr_assert_eq(config_load(&c, CONFIG_SERVER, 1, a5, &help, &err), FF_EINVAL);
  config_free(&c);
  clear_env();
}

Test(config, scope_hides_other_commands_options) {
  clear_env();
  struct config c;
  struct ff_error err = {0};
  int help = 0;
  char *argv[] = {"admin", "--port", "1", NULL};
  cr_assert_eq(config_load(&c, CONFIG_ADMIN, 3, argv, &help, &err), FF_EINVAL,
               "port is not an admin setting");
  config_free(&c);
}

Test(config, markdown_lists_every_option) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  config_print_markdown(f);
  fclose(f);
  cr_assert(strstr(text, "`FOOTFALL_PORT`"));
  cr_assert(strstr(text, "`FOOTFALL_DATABASE_URL`"));
  cr_assert(strstr(text, "| setting | environment |"));
  free(text);
}
