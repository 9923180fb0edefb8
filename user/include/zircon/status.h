/* Names of status codes (libzircon).
 *
 * Needs only <stdint.h> and <stddef.h>; valid C11 and C++, also with -ffreestanding.
 */
#ifndef ZIRCON_STATUS_H_
#define ZIRCON_STATUS_H_

#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The name of `status` ("ZX_OK", "ZX_ERR_NO_MEMORY", ...), or "ZX_ERR_<unknown>" for a code
 * the ABI does not define. A static string: never NULL, never to be freed. */
const char* zx_status_get_string(zx_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* ZIRCON_STATUS_H_ */
