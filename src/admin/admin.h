#ifndef TESSERA_ADMIN_ADMIN_H
#define TESSERA_ADMIN_ADMIN_H

/* `tessera admin …`: offline commands on the store. Returns the process exit status: 0 success,
 * 1 runtime failure, 2 usage error. argv[0] is "admin". */
int admin_main(int argc, char **argv);

/* `tessera admin copy …` (copy.c); argv[0] is "copy". */
int admin_copy(int argc, char **argv);

#endif
