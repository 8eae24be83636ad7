/* header_check.c — xferq/xferq_c.h compiles alone as strict C99 (-pedantic -Werror). */
#include "xferq/xferq_c.h"

int xferq_header_check_state(void) { return XFERQ_STATE_CANCELLED; }
