#include "rangekv/error.h"

const char *rk_strerror(int err)
{
	switch (err) {
#define RK_ERR_TEXT_(name, code, text) \
	case (code):                   \
		return text;
		RK_ERRORS(RK_ERR_TEXT_)
#undef RK_ERR_TEXT_
	}
	return "unknown error";
}

const char *rk_errname(int err)
{
	switch (err) {
#define RK_ERR_NAME_(name, code, text) \
	case (code):                   \
		return #name;
		RK_ERRORS(RK_ERR_NAME_)
#undef RK_ERR_NAME_
	}
	return "RK_E?";
}
