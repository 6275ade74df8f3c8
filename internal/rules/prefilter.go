package rules

/*
#cgo !yara_no_pkg_config pkg-config: yara
#cgo yara_no_pkg_config LDFLAGS: -lyara -lm
#include <stdlib.h>
#include <string.h>
#include <yara.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

// df_atom is a path of the Aho-Corasick trie to a state with a match
// list, and one string of that list.
typedef struct {
	uint32_t string; // index in the rules' strings table
	uint8_t len;
	uint8_t path[YR_MAX_ATOM_LENGTH];
} df_atom;

// df_walk appends to out an entry per state below state and per string of
// the state's match list. It returns -1 when the table is not shaped as
// expected or there are more than cap entries.
static int df_walk(YR_RULES* r, uint32_t size, uint32_t state, uint8_t* path, int depth,
                   df_atom* out, int* n, int cap) {
	const YR_AC_TRANSITION* t = r->ac_transition_table;
	for (uint32_t c = 0; c < 256; c++) {
		uint64_t slot = (uint64_t)state + c + 1;
		if (slot >= size) break;
		YR_AC_TRANSITION tr = t[slot];
		if ((tr & 0x1FF) != c + 1) continue; // another state's slot
		uint32_t next = tr >> YR_AC_SLOT_OFFSET_BITS;
		if (next == YR_AC_ROOT_STATE || next >= size || depth >= YR_MAX_ATOM_LENGTH) return -1;
		path[depth] = (uint8_t)c;
		uint32_t m = r->ac_match_table[next];
		for (YR_AC_MATCH* match = m ? &r->ac_match_pool[m - 1] : NULL; match != NULL; match = match->next) {
			if (*n >= cap) return -1;
			ptrdiff_t si = match->string - r->strings_table;
			if (si < 0 || (uint64_t)si >= r->num_strings) return -1;
			out[*n].string = (uint32_t)si;
			out[*n].len = (uint8_t)(depth + 1);
			memcpy(out[*n].path, path, depth + 1);
			(*n)++;
		}
		if (df_walk(r, size, next, path, depth + 1, out, n, cap) < 0) return -1;
	}
	return 0;
}

// df_atoms writes the atoms of the rules' Aho-Corasick automaton: the
// byte sequences at whose occurrence, and only there, libyara verifies a
// string, each with its string. -1: a string has no atom (the root state
// has matches: it is verified everywhere), the table is not as expected,
// or more than cap.
static int df_atoms(YR_RULES* rules, df_atom* out, int cap) {
	YR_RULES_STATS st;
	if (yr_rules_get_stats(rules, &st) != ERROR_SUCCESS) return -1;
	if (st.ac_tables_size == 0 || st.ac_root_match_list_length != 0 ||
	    rules->ac_match_table[YR_AC_ROOT_STATE] != 0) return -1;
	uint8_t path[YR_MAX_ATOM_LENGTH];
	int n = 0;
	if (df_walk(rules, st.ac_tables_size, YR_AC_ROOT_STATE, path, 0, out, &n, cap) < 0) return -1;
	return n;
}

static uint32_t df_string_rule(YR_RULES* r, uint32_t i) { return r->strings_table[i].rule_idx; }
static const char* df_string_id(YR_RULES* r, uint32_t i) { return r->strings_table[i].identifier; }

// df_pre is a prefilter: needles of at least two bytes, filed under each
// form their first two bytes can take (w = b0 | b1<<8), with a bit per
// such pair.
#define DF_TARGETS 8

typedef struct {
	uint8_t pair[8192];
	// The distinct first pairs, when at most DF_TARGETS: bytes (lower
	// case where folded) and whether each is folded (ORed with 0x20).
	int ntargets;
	uint8_t tb0[DF_TARGETS], tb1[DF_TARGETS], tf0[DF_TARGETS], tf1[DF_TARGETS];
	uint32_t* start;       // 65537 entries: entries of pair w are [start[w], start[w+1])
	uint32_t* off;         // per entry: the needle's offset in bytes
	uint16_t* len;         // per entry: its length
	uint8_t* nocase;       // per entry: 1 when ASCII letters match either case
	const uint8_t* bytes;  // the needles, case-insensitive ones in lower case
} df_pre;

static inline uint8_t df_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// df_at reports whether a needle starts at p[i].
static inline int df_at(const df_pre* pf, const uint8_t* p, size_t n, size_t i) {
	uint32_t w = p[i] | ((uint32_t)p[i + 1] << 8);
	for (uint32_t k = pf->start[w]; k < pf->start[w + 1]; k++) {
		size_t len = pf->len[k];
		if (len > n - i) continue;
		const uint8_t* nd = pf->bytes + pf->off[k];
		size_t j = 2;
		if (pf->nocase[k]) {
			while (j < len && df_lower(p[i + j]) == nd[j]) j++;
		} else {
			while (j < len && p[i + j] == nd[j]) j++;
		}
		if (j == len) return 1;
	}
	return 0;
}

// df_may_match reports whether a needle occurs in p[0:n]. With SSE2 and
// few distinct first pairs it tests 16 positions at once: a byte ORed
// with 0x20 equals a lower-case letter exactly when it is that letter in
// either case, so a case-insensitive pair costs no more than another.
static int df_may_match(const df_pre* pf, const uint8_t* p, size_t n) {
	if (n < 2) return 0;
	size_t i = 0;
#ifdef __SSE2__
	if (pf->ntargets > 0) {
		__m128i t0[DF_TARGETS], t1[DF_TARGETS], f0[DF_TARGETS], f1[DF_TARGETS];
		int nt = pf->ntargets;
		for (int k = 0; k < nt; k++) {
			t0[k] = _mm_set1_epi8((char)pf->tb0[k]);
			t1[k] = _mm_set1_epi8((char)pf->tb1[k]);
			f0[k] = _mm_set1_epi8(pf->tf0[k] ? 0x20 : 0);
			f1[k] = _mm_set1_epi8(pf->tf1[k] ? 0x20 : 0);
		}
		for (; i + 17 <= n; i += 16) {
			__m128i a = _mm_loadu_si128((const __m128i*)(p + i));
			__m128i b = _mm_loadu_si128((const __m128i*)(p + i + 1));
			__m128i m = _mm_setzero_si128();
			for (int k = 0; k < nt; k++) {
				m = _mm_or_si128(m, _mm_and_si128(
					_mm_cmpeq_epi8(_mm_or_si128(a, f0[k]), t0[k]),
					_mm_cmpeq_epi8(_mm_or_si128(b, f1[k]), t1[k])));
			}
			unsigned mask = (unsigned)_mm_movemask_epi8(m);
			while (mask) {
				if (df_at(pf, p, n, i + (size_t)__builtin_ctz(mask))) return 1;
				mask &= mask - 1;
			}
		}
	}
#endif
	for (; i + 1 < n; i++) {
		uint32_t w = p[i] | ((uint32_t)p[i + 1] << 8);
		if ((pf->pair[w >> 3] & (1u << (w & 7))) && df_at(pf, p, n, i)) return 1;
	}
	return 0;
}
*/
import "C"

import (
	"slices"
	"unsafe"

	"github.com/vipyrsec/dragonfly-client-go/internal/yarasrc"
)

// The prefilter: skipping libyara where no rule can match.
//
// libyara finds strings through an Aho-Corasick automaton of atoms, short
// byte sequences (at most four bytes) chosen from every string (each
// variant of a nocase, wide, xor or base64 string, each alternative of a
// regular expression gets its atoms), and verifies a string only where
// one of its atoms occurs. Every rule of a set has a cover
// (internal/yarasrc/rulecond.go): strings without which it is false. So a
// file holding, for every string of the covers, neither its needle
// (internal/yarasrc/needles.go: a longer sequence every match contains,
// from the string's text) nor, for a string without one,
// any of its atoms, matches no rule of the set: libyara's answer is known
// without asking it. The atoms are read from the compiled automaton
// itself, not from the rules' text, so they are exactly what libyara
// looks for. The one difference a skip can make: a string outside the
// covers reaching libyara's match limit no longer fails the file, which
// is right, as no rule that uses it can be true.
//
// It pays where a plan has few rules and much data: the native libraries
// of wheels meet only the rules without a filetype. With at most
// DF_TARGETS distinct first pairs it tests 16 positions per step (SSE2),
// five times libyara's speed on native code; otherwise a 64 Kibit table
// of first pairs. At the first needle found it gives up and libyara
// matches the file as always. A set with a rule without a cover, a string
// without atoms or a needed atom of one byte gets no prefilter.

// maxAtoms bounds the atom entries read from one automaton; a set with
// more gets no prefilter: libyara's automaton is the better search then.
const maxAtoms = 1 << 14

// prefilter holds the atoms of the covers (yarasrc.Covers) of one compiled
// rule set's rules, in C memory.
type prefilter struct {
	t       *C.df_pre
	needles int
}

// newPrefilter returns the prefilter of c, whose rules are those of rs at
// indices index (nil: every rule), or nil when it cannot have one: a rule
// without a cover, a string without atoms, or a needed atom of one byte.
func newPrefilter(c *compiledRules, covers [][]yarasrc.StringRef, needles []map[string][]yarasrc.Needle, index []int32) *prefilter {
	if covers == nil {
		return nil
	}
	rsIndex := func(k int32) int32 { return k }
	if index != nil {
		rsIndex = func(k int32) int32 { return index[k] }
	}
	n := len(covers)
	if index != nil {
		n = len(index)
	}
	var need []yarasrc.StringRef
	for k := range n {
		cv := covers[rsIndex(int32(k))]
		if cv == nil {
			return nil
		}
		need = append(need, cv...)
	}
	buf := make([]C.df_atom, maxAtoms)
	got := int(C.df_atoms(c.p, &buf[0], C.int(maxAtoms)))
	if got <= 0 {
		return nil // 0: no strings at all, and libyara is cheap then
	}
	var ns []yarasrc.Needle
	seen := map[uint32]bool{} // per string: whether its atoms are taken
	for _, e := range buf[:got] {
		si := uint32(e.string)
		use, ok := seen[si]
		if !ok {
			rule := rsIndex(int32(C.df_string_rule(c.p, C.uint32_t(si))))
			id := C.GoString(C.df_string_id(c.p, C.uint32_t(si)))
			use = slices.ContainsFunc(need, func(r yarasrc.StringRef) bool { return r.Has(rule, id) })
			if lits, found := needles[rule][id]; use && found {
				// The string's own text is more selective than its atoms.
				ns = append(ns, lits...)
				use = false
			}
			seen[si] = use
		}
		if use {
			ns = append(ns, yarasrc.Needle{Bytes: C.GoBytes(unsafe.Pointer(&e.path[0]), C.int(e.len))})
		}
	}
	t := newNeedleTable(ns)
	if t == nil {
		return nil
	}
	return &prefilter{t: t, needles: len(ns)}
}

// newNeedleTable builds the search table of ns in C memory, nil when a
// needle is shorter than two bytes. No needles make a table that finds
// nothing.
func newNeedleTable(ns []yarasrc.Needle) *C.df_pre {
	type entry struct {
		pair int
		n    int // index in ns
	}
	var entries []entry
	size := 0
	for k, nd := range ns {
		if len(nd.Bytes) < 2 || len(nd.Bytes) > 0xffff {
			return nil
		}
		size += len(nd.Bytes)
		for _, b0 := range caseForms(nd.Bytes[0], nd.NoCase) {
			for _, b1 := range caseForms(nd.Bytes[1], nd.NoCase) {
				entries = append(entries, entry{pair: int(b0) | int(b1)<<8, n: k})
			}
		}
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return a.pair - b.pair })
	m := len(entries)
	pf := (*C.df_pre)(C.calloc(1, C.size_t(unsafe.Sizeof(C.df_pre{}))))
	pf.start = (*C.uint32_t)(C.calloc(65537, 4))
	pf.off = (*C.uint32_t)(C.calloc(C.size_t(m+1), 4))
	pf.len = (*C.uint16_t)(C.calloc(C.size_t(m+1), 2))
	pf.nocase = (*C.uint8_t)(C.calloc(C.size_t(m+1), 1))
	bytesC := (*C.uint8_t)(C.calloc(C.size_t(size+1), 1))
	pf.bytes = bytesC
	start := unsafe.Slice((*uint32)(unsafe.Pointer(pf.start)), 65537)
	offs := unsafe.Slice((*uint32)(unsafe.Pointer(pf.off)), m+1)
	lens := unsafe.Slice((*uint16)(unsafe.Pointer(pf.len)), m+1)
	nocase := unsafe.Slice((*uint8)(unsafe.Pointer(pf.nocase)), m+1)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(bytesC)), size+1)
	pair := unsafe.Slice((*uint8)(unsafe.Pointer(&pf.pair[0])), len(pf.pair))
	at := make([]uint32, len(ns))
	pos := 0
	for k, nd := range ns {
		at[k] = uint32(pos)
		for _, c := range nd.Bytes {
			if nd.NoCase && c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[pos] = c
			pos++
		}
	}
	k := 0
	for w := range 65536 {
		start[w] = uint32(k)
		for k < m && entries[k].pair == w {
			nd := ns[entries[k].n]
			offs[k], lens[k] = at[entries[k].n], uint16(len(nd.Bytes))
			if nd.NoCase {
				nocase[k] = 1
			}
			pair[w>>3] |= 1 << (w & 7)
			k++
		}
	}
	start[65536] = uint32(k)
	setTargets(pf, ns)
	return pf
}

// setTargets records ns's distinct first pairs for the vector search,
// folded where a needle is case-insensitive and its byte a letter, unless
// there are more than C.DF_TARGETS.
func setTargets(pf *C.df_pre, ns []yarasrc.Needle) {
	type target struct{ b0, b1, f0, f1 uint8 }
	var ts []target
	fold := func(c byte, nocase bool) (byte, uint8) {
		if l := c | 0x20; nocase && l >= 'a' && l <= 'z' {
			return l, 1
		}
		return c, 0
	}
	for _, nd := range ns {
		var t target
		t.b0, t.f0 = fold(nd.Bytes[0], nd.NoCase)
		t.b1, t.f1 = fold(nd.Bytes[1], nd.NoCase)
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	if len(ts) > C.DF_TARGETS {
		return
	}
	for k, t := range ts {
		pf.tb0[k], pf.tb1[k], pf.tf0[k], pf.tf1[k] = C.uint8_t(t.b0), C.uint8_t(t.b1), C.uint8_t(t.f0), C.uint8_t(t.f1)
	}
	pf.ntargets = C.int(len(ts))
}

// caseForms returns the forms of c a needle's byte matches.
func caseForms(c byte, nocase bool) []byte {
	switch {
	case nocase && c >= 'a' && c <= 'z':
		return []byte{c, c - 'a' + 'A'}
	case nocase && c >= 'A' && c <= 'Z':
		return []byte{c + 'a' - 'A', c}
	}
	return []byte{c}
}

// mayMatch reports whether a string of the set may match data in a way
// that counts: false means that no rule of the set matches data.
func (pf *prefilter) mayMatch(data []byte) bool {
	if len(data) < 2 {
		return false // every atom has two bytes at least
	}
	return C.df_may_match(pf.t, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data))) != 0
}

func (pf *prefilter) free() {
	if pf == nil || pf.t == nil {
		return
	}
	C.free(unsafe.Pointer(pf.t.start))
	C.free(unsafe.Pointer(pf.t.off))
	C.free(unsafe.Pointer(pf.t.len))
	C.free(unsafe.Pointer(pf.t.nocase))
	C.free(unsafe.Pointer(pf.t.bytes))
	C.free(unsafe.Pointer(pf.t))
	pf.t = nil
}
