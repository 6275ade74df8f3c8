package rules

/*
#cgo !yara_no_pkg_config pkg-config: yara
#cgo yara_no_pkg_config LDFLAGS: -lyara -lm
#include <stdlib.h>
#include <string.h>
#include <yara.h>

// df_mem_stream lets libyara load rules from a byte buffer.
typedef struct {
	const unsigned char* data;
	size_t len;
	size_t pos;
} df_mem_stream;

static size_t df_stream_read(void* ptr, size_t size, size_t count, void* user_data) {
	df_mem_stream* s = (df_mem_stream*)user_data;
	if (size == 0) return 0;
	size_t avail = (s->len - s->pos) / size;
	if (count > avail) count = avail;
	memcpy(ptr, s->data + s->pos, count * size);
	s->pos += count * size;
	return count;
}

static int df_load_rules(const unsigned char* data, size_t len, YR_RULES** rules) {
	df_mem_stream s = {data, len, 0};
	YR_STREAM stream;
	stream.user_data = &s;
	stream.read = df_stream_read;
	stream.write = NULL;
	return yr_rules_load_stream(&stream, rules);
}

// df_state collects the outcome of one scan without calling back into Go:
// the indices of the matching rules and, per rule, whether one of its
// strings hit libyara's per-string match limit.
typedef struct {
	uint32_t* matched;
	uint32_t nmatched;
	uint32_t cap;
	int too_many;
	uint8_t* limited;
} df_state;

static int df_callback(YR_SCAN_CONTEXT* ctx, int message, void* message_data, void* user_data) {
	df_state* st = (df_state*)user_data;
	switch (message) {
	case CALLBACK_MSG_RULE_MATCHING: {
		YR_RULE* r = (YR_RULE*)message_data;
		ptrdiff_t i = r - ctx->rules->rules_table;
		if (i >= 0 && (uint32_t)i < st->cap && st->nmatched < st->cap) {
			st->matched[st->nmatched++] = (uint32_t)i;
		}
		break;
	}
	case CALLBACK_MSG_TOO_MANY_MATCHES: {
		// libyara stops recording this string and goes on; the rules that
		// use it may now be wrong, so the file fails. Keep scanning for the
		// partial findings the failure reason reports.
		YR_STRING* s = (YR_STRING*)message_data;
		st->too_many = 1;
		if (s->rule_idx < st->cap) {
			st->limited[s->rule_idx] = 1;
		}
		break;
	}
	}
	return CALLBACK_CONTINUE;
}

static int df_new_scanner(YR_RULES* rules, df_state* st, int timeout, YR_SCANNER** out) {
	int rc = yr_scanner_create(rules, out);
	if (rc != ERROR_SUCCESS) return rc;
	yr_scanner_set_callback(*out, df_callback, st);
	// NO_TRYCATCH (4): libyara's own SIGSEGV handler would fight Go's.
	yr_scanner_set_flags(*out, SCAN_FLAGS_NO_TRYCATCH | SCAN_FLAGS_REPORT_RULES_MATCHING);
	yr_scanner_set_timeout(*out, timeout);
	return ERROR_SUCCESS;
}

static int df_scan(YR_SCANNER* sc, df_state* st, const uint8_t* buf, size_t len) {
	static const uint8_t empty[1] = {0};
	if (st->too_many) {
		memset(st->limited, 0, st->cap);
	}
	st->nmatched = 0;
	st->too_many = 0;
	return yr_scanner_scan_mem(sc, len ? buf : empty, len);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	// go-yara initialises libyara (yr_initialize) in its package init and
	// compiles the rules; this file only scans.
	"github.com/hillu/go-yara/v4"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

// LibyaraVersion is the version of the libyara headers this binary was
// built against.
const LibyaraVersion = C.YR_VERSION

// compiledRules owns a YR_RULES loaded in C.
type compiledRules struct {
	p   *C.YR_RULES
	pre *prefilter // nil: none (prefilter.go)
}

func loadCompiledRules(serialised []byte, nrules int) (*compiledRules, error) {
	if len(serialised) == 0 {
		return nil, errors.New("rules: empty compiled rules")
	}
	var p *C.YR_RULES
	rc := C.df_load_rules((*C.uchar)(unsafe.Pointer(&serialised[0])), C.size_t(len(serialised)), &p)
	if rc != C.ERROR_SUCCESS {
		return nil, fmt.Errorf("rules: load compiled rules: %w", yara.Error(rc))
	}
	return &compiledRules{p: p}, nil
}

func (c *compiledRules) free() {
	if c != nil && c.p != nil {
		C.yr_rules_destroy(c.p)
		c.p = nil
		c.pre.free()
	}
}

// MatchLimit is libyara's number of matches of one string after which it
// stops recording that string (YR_MAX_STRING_MATCHES).
const MatchLimit = C.YR_MAX_STRING_MATCHES

// Matcher matches buffers against a rule set. It holds a libyara scanner and
// is not safe for concurrent use: make one per goroutine.
type Matcher struct {
	rs      *RuleSet
	c       *compiledRules
	scanner *C.YR_SCANNER
	state   *C.df_state // C memory: libyara keeps the pointer between calls
	timeout time.Duration
	// index maps the rules of a reduced rule plan (ruleplan.go) to their
	// indices in rs.Rules(); nil when c is the whole set.
	index []int32
	// prefilter skips libyara for data holding none of the strings the
	// set's rules cannot match without (prefilter.go). Scanners turn it on; a bare matcher, which the rule
	// cost measurement times, always asks libyara.
	prefilter bool
	skipped   int64 // files the prefilter answered
}

// NewMatcher returns a matcher over rs whose every scan stops after timeout,
// truncated to whole seconds (at least one).
func (rs *RuleSet) NewMatcher(timeout time.Duration) (*Matcher, error) {
	return rs.newMatcher(nil, timeout)
}

// newMatcher returns a matcher over the reduced rules of plan p, or over
// the whole set when p is nil. Either way it holds a reference on rs, which
// owns the compiled rules of its plans.
func (rs *RuleSet) newMatcher(p *rulePlan, timeout time.Duration) (*Matcher, error) {
	secs := int(timeout / time.Second)
	if secs < 1 {
		return nil, fmt.Errorf("yara timeout %s is under one second", timeout)
	}
	c, err := rs.acquire()
	if err != nil {
		return nil, err
	}
	n := len(rs.rules)
	var index []int32
	if p != nil {
		c, index, n = p.c, p.index, len(p.index)
	}
	st := (*C.df_state)(C.calloc(1, C.size_t(unsafe.Sizeof(C.df_state{}))))
	st.matched = (*C.uint32_t)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof(C.uint32_t(0)))))
	st.cap = C.uint32_t(n)
	st.limited = (*C.uint8_t)(C.calloc(C.size_t(n+1), 1))
	m := &Matcher{rs: rs, c: c, state: st, timeout: time.Duration(secs) * time.Second, index: index}
	if rc := C.df_new_scanner(c.p, st, C.int(secs), &m.scanner); rc != C.ERROR_SUCCESS {
		m.Close()
		return nil, fmt.Errorf("yara scanner: %w", yara.Error(rc))
	}
	return m, nil
}

// RuleSet returns the rule set the matcher scans with.
func (m *Matcher) RuleSet() *RuleSet { return m.rs }

// Match scans data and appends the indices (into [RuleSet.Rules]) of the
// public rules that matched to dst, before any filetype is applied. When the
// scan runs out of time, errs, or a string reaches libyara's match limit, the
// error is classed [failure.ErrTimeout] and the indices found so far are still
// returned, so that a failure can report partial findings.
func (m *Matcher) Match(data []byte, dst []int32) ([]int32, error) {
	if m.prefilter && m.c.pre != nil && !m.c.pre.mayMatch(data) {
		m.skipped++
		return dst, nil
	}
	var p *C.uint8_t
	if len(data) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	rc := C.df_scan(m.scanner, m.state, p, C.size_t(len(data)))
	n := int(m.state.nmatched)
	if n > 0 {
		found := unsafe.Slice((*uint32)(unsafe.Pointer(m.state.matched)), n)
		for _, i := range found {
			if m.index != nil {
				dst = append(dst, m.index[i])
			} else {
				dst = append(dst, int32(i))
			}
		}
	}
	switch {
	case rc == C.ERROR_SCAN_TIMEOUT:
		return dst, failure.Classed(failure.ErrTimeout, "matching took longer than %s", m.timeout)
	case rc != C.ERROR_SUCCESS:
		return dst, failure.Classed(failure.ErrTimeout, "matching failed: %v", yara.Error(rc))
	case m.state.too_many != 0:
		le := &LimitError{rs: m.rs}
		for i, hit := range unsafe.Slice((*uint8)(unsafe.Pointer(m.state.limited)), int(m.state.cap)) {
			if hit == 0 {
				continue
			}
			if m.index != nil {
				le.rules = append(le.rules, m.index[i])
			} else {
				le.rules = append(le.rules, int32(i))
			}
		}
		slices.Sort(le.rules)
		return dst, le
	}
	return dst, nil
}

// LimitError is a file's failure on libyara's match limit: a string of each
// of rules (indices into RuleSet.Rules, ascending) matched MatchLimit times,
// after which libyara stops recording it, so that those rules, and the
// rules that name them, may have come out wrong. Its class is failure.ErrTimeout.
type LimitError struct {
	rs    *RuleSet
	rules []int32
}

func (e *LimitError) Error() string {
	name := "?"
	if len(e.rules) > 0 && int(e.rules[0]) < len(e.rs.rules) {
		name = e.rs.rules[e.rules[0]].Name
	}
	return fmt.Sprintf("%v: a string of rule %s matched %d times, libyara's limit", failure.ErrTimeout, name, MatchLimit)
}

func (e *LimitError) Unwrap() error { return failure.ErrTimeout }

// Close frees the scanner and releases the matcher's hold on the rule set.
func (m *Matcher) Close() {
	if m.scanner != nil {
		C.yr_scanner_destroy(m.scanner)
		m.scanner = nil
	}
	if m.state != nil {
		C.free(unsafe.Pointer(m.state.matched))
		C.free(unsafe.Pointer(m.state.limited))
		C.free(unsafe.Pointer(m.state))
		m.state = nil
	}
	if m.c != nil {
		m.c = nil
		m.rs.release()
	}
}
