/* conformance-c: exit codes shared by the child modes (child.c) and the cases using them. */
#ifndef CONFORMANCE_C_CHILD_H_
#define CONFORMANCE_C_CHILD_H_

/* The access that had to kill the child did not. */
#define CHILD_SURVIVED 99
/* Setup step n failed: CHILD_SETUP + n. */
#define CHILD_SETUP 60
/* A status s (<= 0) the child did not expect: CHILD_STATUS_BASE - s. */
#define CHILD_STATUS_BASE 100
#define CHILD_UNKNOWN_MODE 98

/* Index for zxr_take_startup_handle() of the first extra handle a starter passed: indices
 * count in the bootstrap message, where 0-3 are the process, its root VMAR, the archive and
 * the default job. */
#define CHILD_EXTRA_HANDLE_INDEX 4u

#endif /* CONFORMANCE_C_CHILD_H_ */
