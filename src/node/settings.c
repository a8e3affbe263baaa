/*
 * The cluster settings' flags and record text (settings.h); what reads and
 * writes the record is in settings_rec.c (it needs the store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "rangekv/error.h"
#include "settings.h"

struct setting {
	const char *name, *flag;
	enum rk_setting_kind kind;
	uint64_t min, max, def;
};

static const struct setting table[RK_SET_N] = {
#define X(id, name, flag, kind, min, max, def) {name, flag, kind, min, max, def},
	RK_SETTINGS(X)
#undef X
};

void rk_settings_defaults(struct rk_settings *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < RK_SET_N; i++)
		s->v[i] = table[i].def;
}

/* Whether v is a value setting t can take (0, for never, below the min
 * of a size that may be off). */
static bool in_bounds(const struct setting *t, uint64_t v)
{
	if (t->kind == RK_SETK_SIZE_OFF && v == 0)
		return true;
	return v >= t->min && v <= t->max;
}

/* A duration: digits and a unit, ms, s, m or h. */
static int parse_duration(const char *val, uint64_t *msp)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	unsigned long long v;
	char *end;

	*msp = 0;
	if (val[0] < '0' || val[0] > '9')
		return RK_EINVAL;
	v = strtoull(val, &end, 10);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0 && v <= UINT64_MAX / units[i].ms) {
			*msp = v * units[i].ms;
			return 0;
		}
	return RK_EINVAL;
}

int rk_settings_flag(struct rk_settings *s, const char *flag, const char *val, char *err,
		     size_t errlen)
{
	for (int i = 0; i < RK_SET_N; i++) {
		const struct setting *t = &table[i];
		uint64_t v = 0;
		int rc;

		if (strcmp(flag, t->flag) != 0)
			continue;
		if (t->kind == RK_SETK_DURATION)
			rc = parse_duration(val, &v);
		else if (t->kind == RK_SETK_SWITCH) {
			v = strcmp(val, "on") == 0;
			rc = v == 1 || strcmp(val, "off") == 0 ? 0 : RK_EINVAL;
		} else if (t->kind == RK_SETK_SIZE || t->kind == RK_SETK_SIZE_OFF)
			rc = rk_parse_size(val, &v);
		else
			rc = val[0] >= '0' && val[0] <= '9' ? 0 : RK_EINVAL;
		if (rc == 0 && t->kind == RK_SETK_COUNT) {
			char *end;
			v = strtoull(val, &end, 10);
			rc = *end == '\0' ? 0 : RK_EINVAL;
		}
		if (rc != 0 || !in_bounds(t, v)) {
			snprintf(err, errlen, "%s: '%s' is not %s", flag, val,
				 t->kind == RK_SETK_DURATION ? "a duration of at least 1s (with a unit: 1500ms, 30s, 5m, 2h)"
				 : t->kind == RK_SETK_SIZE ? "a size above 0 (with a unit: 512KiB, 32MiB)"
				 : t->kind == RK_SETK_SIZE_OFF ? "0 or a size of at least 16KiB (with a unit: 512KiB, 64MiB)"
				 : t->kind == RK_SETK_SWITCH ? "on or off"
							       : "a count (0 to 1000000000)");
			return RK_EINVAL;
		}
		s->v[i] = v;
		s->given |= 1u << i;
		return 0;
	}
	return RK_ENOTFOUND;
}

/* A value as its flag would take it (the largest unit that divides it). */
static void format_value(const struct setting *t, uint64_t v, struct rk_buf *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} dur[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}},
	  size[] = {{"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20},
		    {"KiB", 1ull << 10}, {"", 1}};

	if (t->kind == RK_SETK_DURATION) {
		for (size_t i = 0; i < 4; i++)
			if (v % dur[i].mult == 0 || i == 3) {
				rk_buf_printf(out, "%llu%s", (unsigned long long)(v / dur[i].mult),
					      dur[i].unit);
				return;
			}
	}
	if ((t->kind == RK_SETK_SIZE || t->kind == RK_SETK_SIZE_OFF) && v != 0)
		for (size_t i = 0; i < 5; i++)
			if (v % size[i].mult == 0) {
				rk_buf_printf(out, "%llu%s", (unsigned long long)(v / size[i].mult),
					      size[i].unit);
				return;
			}
	rk_buf_printf(out, "%llu", (unsigned long long)v);
}

void rk_settings_text(const struct rk_settings *s, uint32_t replicas, struct rk_buf *out)
{
	rk_buf_printf(out, "replicas=%u\n", replicas);
	for (int i = 0; i < RK_SET_N; i++)
		rk_buf_printf(out, "%s=%llu\n", table[i].name, (unsigned long long)s->v[i]);
}

/* The value of setting i in a record (*foundp false when the record has
 * no line for it: a setting added after the record was written). */
static int record_value(const char *text, size_t len, int i, uint64_t *vp, bool *foundp)
{
	size_t nl = strlen(table[i].name);
	const char *p = text, *end = text + len;

	*vp = 0;
	*foundp = false;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return RK_ECORRUPT;
		if ((size_t)(eol - p) > nl && memcmp(p, table[i].name, nl) == 0 && p[nl] == '=') {
			char num[24];
			size_t l = (size_t)(eol - p) - nl - 1;
			char *e;
			if (l == 0 || l >= sizeof(num))
				return RK_ECORRUPT;
			memcpy(num, p + nl + 1, l);
			num[l] = '\0';
			*vp = strtoull(num, &e, 10);
			if (*e != '\0')
				return RK_ECORRUPT;
			*foundp = true;
			return 0;
		}
		p = eol + 1;
	}
	return 0;
}

int rk_settings_merge(struct rk_settings *s, const char *text, size_t len, const char *where,
		      char *err, size_t errlen)
{
	for (int i = 0; i < RK_SET_N; i++) {
		const struct setting *t = &table[i];
		struct rk_buf a, b;
		uint64_t v;
		bool found;
		int rc = text != NULL ? record_value(text, len, i, &v, &found) : 0;

		if (rc != 0) {
			snprintf(err, errlen, "%s: the recorded cluster settings do not parse", where);
			return rc;
		}
		if (text == NULL || !found)
			v = t->def; /* recorded before this setting existed */
		/* A switch's recorded value is where the cluster started
		 * from, not what it is now: a flag given again is not
		 * checked against it. */
		if ((s->given & (1u << i)) && s->v[i] != v && t->kind != RK_SETK_SWITCH) {
			rk_buf_init(&a);
			rk_buf_init(&b);
			format_value(t, s->v[i], &a);
			format_value(t, v, &b);
			snprintf(err, errlen, "%s %.40s does not match the cluster's setting %s %.40s (%s %.200s)",
				 t->flag, a.oom ? "?" : a.p, t->flag, b.oom ? "?" : b.p,
				 text != NULL && found ? "recorded at the first start of"
						       : "the default, recorded before this setting existed, for",
				 where);
			rk_buf_free(&a);
			rk_buf_free(&b);
			return RK_EINVAL;
		}
		s->v[i] = v;
	}
	return 0;
}

void rk_settings_given_text(const struct rk_settings *s, struct rk_buf *out)
{
	for (int i = 0; i < RK_SET_N; i++)
		if (s->given & (1u << i))
			rk_buf_printf(out, "%s=%llu\n", table[i].name, (unsigned long long)s->v[i]);
}

int rk_settings_parse_given(const char *text, size_t len, struct rk_settings *sp)
{
	rk_settings_defaults(sp);
	for (int i = 0; i < RK_SET_N; i++) {
		uint64_t v;
		bool found;
		int rc = record_value(text, len, i, &v, &found);

		if (rc != 0 || (found && !in_bounds(&table[i], v)))
			return RK_ECORRUPT;
		if (found) {
			sp->v[i] = v;
			sp->given |= 1u << i;
		}
	}
	return 0;
}
