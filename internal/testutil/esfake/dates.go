package esfake

import (
	"strings"
	"time"
)

// defaultDateFormat is the format of a date field that names none.
const defaultDateFormat = "strict_date_optional_time||epoch_millis"

// dateFormats are the named formats the fake understands. A mapping that
// names another format is refused with a clear message instead of being
// accepted and then parsed wrongly.
var dateFormats = map[string]func(string) bool{
	"strict_date_optional_time":       func(s string) bool { return parseDateOptionalTime(s, 1) },
	"date_optional_time":              func(s string) bool { return parseDateOptionalTime(s, 1) },
	"strict_date_optional_time_nanos": func(s string) bool { return parseDateOptionalTime(s, 1) },
	"strict_date":                     func(s string) bool { return parseDateOptionalTime(s, 3) && !strings.Contains(s, "T") },
	"strict_date_time":                isStrictDateTime,
	"epoch_millis":                    isEpoch,
	"epoch_second":                    isEpoch,
}

// checkDateFormat reports the first unsupported element of a format list.
func checkDateFormat(format string) (string, bool) {
	for _, f := range strings.Split(format, "||") {
		if _, ok := dateFormats[f]; !ok {
			return f, false
		}
	}
	return "", true
}

// parseDate reports whether s is a date in any of the formats.
func parseDate(format, s string) bool {
	for _, f := range strings.Split(format, "||") {
		if p, ok := dateFormats[f]; ok && p(s) {
			return true
		}
	}
	return false
}

// detectDate is dynamic date detection: a string field whose value reads as
// a full calendar date (yyyy-MM-dd, optionally with a time) becomes a date.
func detectDate(s string) bool { return parseDateOptionalTime(s, 3) }

func isEpoch(s string) bool {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) {
		return false
	}
	return !hasFrac || (frac != "" && allDigits(frac))
}

func isStrictDateTime(s string) bool {
	// yyyy-MM-dd'T'HH:mm:ss.SSSZZ: everything present.
	date, rest, ok := strings.Cut(s, "T")
	if !ok || len(date) != 10 {
		return false
	}
	if !strings.Contains(rest, ".") {
		return false
	}
	if !strings.HasSuffix(rest, "Z") && !strings.ContainsAny(rest, "+-") {
		return false
	}
	return parseDateOptionalTime(s, 3)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDateOptionalTime parses yyyy[-MM[-dd['T'HH[:mm[:ss[.S{1,9}]]][zone]]]]
// strictly (fixed widths), requiring at least minParts date parts.
func parseDateOptionalTime(s string, minParts int) bool {
	num := func(n int) (int, bool) {
		if len(s) < n || !allDigits(s[:n]) {
			return 0, false
		}
		v := 0
		for i := 0; i < n; i++ {
			v = v*10 + int(s[i]-'0')
		}
		s = s[n:]
		return v, true
	}
	lit := func(c byte) bool {
		if len(s) > 0 && s[0] == c {
			s = s[1:]
			return true
		}
		return false
	}
	year, ok := num(4)
	if !ok {
		return false
	}
	month, day, parts := 1, 1, 1
	if lit('-') {
		if month, ok = num(2); !ok || month < 1 || month > 12 {
			return false
		}
		parts++
		if lit('-') {
			if day, ok = num(2); !ok {
				return false
			}
			parts++
			if day < 1 || day > daysIn(year, month) {
				return false
			}
		}
	}
	if parts < minParts {
		return false
	}
	if s == "" {
		return true
	}
	if parts < 3 || !lit('T') {
		return false
	}
	if h, ok := num(2); !ok || h > 23 {
		return false
	}
	if lit(':') {
		if m, ok := num(2); !ok || m > 59 {
			return false
		}
		if lit(':') {
			if sec, ok := num(2); !ok || sec > 59 {
				return false
			}
			if lit('.') || lit(',') {
				n := 0
				for n < len(s) && s[n] >= '0' && s[n] <= '9' {
					n++
				}
				if n < 1 || n > 9 {
					return false
				}
				s = s[n:]
			}
		}
	}
	switch {
	case s == "":
		return true
	case s == "Z":
		return true
	case s[0] == '+' || s[0] == '-':
		s = s[1:]
		if h, ok := num(2); !ok || h > 18 {
			return false
		}
		if s == "" {
			return true
		}
		lit(':')
		m, ok := num(2)
		return ok && m < 60 && s == ""
	}
	return false
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
