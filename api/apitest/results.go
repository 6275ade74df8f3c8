package apitest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PUT /package: validation as the real server's pydantic models, then the
// checks of the real endpoint plus today's lease checks.

// fieldErr is one entry of a FastAPI 422 answer's detail list.
type fieldErr struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
}

func writeValidation(w http.ResponseWriter, errs []fieldErr) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
}

// submission is a validated PUT /package body.
type submission struct {
	success      bool
	name         string
	version      string
	score        *big.Int
	inspectorURL *string
	rulesMatched []string
	commit       string
	reason       string
	hasAttempt   bool
	attempt      *big.Int
	hasAssign    bool
	assignmentID string // canonical form
}

// Models of the union the real endpoint validates against, in the order
// pydantic tries them.
const (
	modelSuccess = "PackageScanResult"
	modelFailure = "PackageScanResultFail"
)

// parseSubmission validates a body like the real server's pydantic union
// PackageScanResult | PackageScanResultFail: the success model is tried
// first, so a body with both commit and reason is a success (its score
// defaulting to 0). Unknown fields are ignored. attempt and assignment_id
// are only known to today's server.
func parseSubmission(contentType string, body []byte, era Era) (submission, []fieldErr) {
	if !jsonContentType(contentType) {
		// FastAPI reads a body of another declared type as bytes, which
		// neither model accepts.
		var errs []fieldErr
		for _, m := range []string{modelSuccess, modelFailure} {
			errs = append(errs, fieldErr{Type: "model_attributes_type", Loc: []any{"body", m},
				Msg: "Input should be a valid dictionary or object to extract fields from", Input: string(body)})
		}
		return submission{}, errs
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return submission{}, []fieldErr{{Type: "missing", Loc: []any{"body"}, Msg: "Field required", Input: nil}}
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		msg := "JSON decode error"
		return submission{}, []fieldErr{{Type: "json_invalid", Loc: []any{"body", 0}, Msg: msg, Input: map[string]any{}}}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		var errs []fieldErr
		for _, m := range []string{modelSuccess, modelFailure} {
			errs = append(errs, fieldErr{Type: "model_attributes_type", Loc: []any{"body", m},
				Msg: "Input should be a valid dictionary or object to extract fields from", Input: v})
		}
		return submission{}, errs
	}

	var sub submission
	var common, succ, fail []fieldErr
	sub.name = str(obj, "name", &common)
	sub.version = str(obj, "version", &common)
	if era == Today {
		if a, ok := obj["attempt"]; ok {
			sub.hasAttempt = true
			sub.attempt = integer(a, []any{"attempt"}, &common)
		}
		if a, ok := obj["assignment_id"]; ok {
			sub.hasAssign = true
			sub.assignmentID = uuidField(a, &common)
		}
	}

	sub.commit = str(obj, "commit", &succ)
	sub.score = big.NewInt(0)
	if v, ok := obj["score"]; ok {
		sub.score = integer(v, []any{"score"}, &succ)
	}
	if v, ok := obj["inspector_url"]; ok && v != nil {
		if s, ok := v.(string); ok {
			sub.inspectorURL = &s
		} else {
			succ = append(succ, fieldErr{Type: "string_type", Loc: []any{"inspector_url"}, Msg: "Input should be a valid string", Input: v})
		}
	}
	sub.rulesMatched = []string{}
	if v, ok := obj["rules_matched"]; ok {
		list, ok := v.([]any)
		if !ok {
			succ = append(succ, fieldErr{Type: "list_type", Loc: []any{"rules_matched"}, Msg: "Input should be a valid list", Input: v})
		}
		for i, e := range list {
			if s, ok := e.(string); ok {
				sub.rulesMatched = append(sub.rulesMatched, s)
			} else {
				succ = append(succ, fieldErr{Type: "string_type", Loc: []any{"rules_matched", i}, Msg: "Input should be a valid string", Input: e})
			}
		}
	}
	sub.reason = str(obj, "reason", &fail)

	switch {
	case len(common) == 0 && len(succ) == 0:
		sub.success = true
		return sub, nil
	case len(common) == 0 && len(fail) == 0:
		return sub, nil
	}
	var errs []fieldErr
	for _, e := range append(slices.Clone(common), succ...) {
		e.Loc = append([]any{"body", modelSuccess}, e.Loc...)
		errs = append(errs, e)
	}
	for _, e := range append(slices.Clone(common), fail...) {
		e.Loc = append([]any{"body", modelFailure}, e.Loc...)
		errs = append(errs, e)
	}
	return sub, errs
}

// jsonContentType reports whether FastAPI parses a body of this declared
// type as JSON: no type at all, application/json or application/*+json.
func jsonContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// str reads a required string field. Like pydantic 2 (lax mode), numbers
// are not turned into strings.
func str(obj map[string]any, field string, errs *[]fieldErr) string {
	v, ok := obj[field]
	if !ok {
		*errs = append(*errs, fieldErr{Type: "missing", Loc: []any{field}, Msg: "Field required", Input: obj})
		return ""
	}
	s, ok := v.(string)
	if !ok {
		*errs = append(*errs, fieldErr{Type: "string_type", Loc: []any{field}, Msg: "Input should be a valid string", Input: v})
	}
	return s
}

// integer reads an int field as pydantic 2 does in lax mode: a JSON
// integer of any size, a float without a fractional part, or a string
// holding an integer. Booleans, which pydantic would take as 0 and 1, are
// refused: no client has a reason to send one.
func integer(v any, loc []any, errs *[]fieldErr) *big.Int {
	bad := func(typ, msg string) *big.Int {
		*errs = append(*errs, fieldErr{Type: typ, Loc: loc, Msg: msg, Input: v})
		return nil
	}
	switch x := v.(type) {
	case json.Number:
		if n, ok := new(big.Int).SetString(string(x), 10); ok {
			return n
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return bad("finite_number", "Input should be a finite number")
		}
		if f != math.Trunc(f) {
			return bad("int_from_float", "Input should be a valid integer, got a number with a fractional part")
		}
		n, _ := big.NewFloat(f).Int(nil)
		return n
	case string:
		if n, ok := new(big.Int).SetString(strings.TrimSpace(x), 10); ok {
			return n
		}
		return bad("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
	default:
		return bad("int_type", "Input should be a valid integer")
	}
}

// uuidField reads a UUID in its hyphenated or its 32-digit form and returns
// the canonical lower-case hyphenated form.
func uuidField(v any, errs *[]fieldErr) string {
	s, ok := v.(string)
	if !ok {
		*errs = append(*errs, fieldErr{Type: "uuid_type", Loc: []any{"assignment_id"}, Msg: "UUID input should be a string, bytes or UUID object", Input: v})
		return ""
	}
	hex := strings.ToLower(s)
	if len(hex) == 36 && hex[8] == '-' && hex[13] == '-' && hex[18] == '-' && hex[23] == '-' {
		hex = strings.ReplaceAll(hex, "-", "")
	}
	valid := len(hex) == 32
	for _, c := range hex {
		if !strings.ContainsRune("0123456789abcdef", c) {
			valid = false
		}
	}
	if !valid {
		*errs = append(*errs, fieldErr{Type: "uuid_parsing", Loc: []any{"assignment_id"}, Msg: "Input should be a valid UUID", Input: v})
		return ""
	}
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32]
}

var (
	minInt4 = big.NewInt(math.MinInt32)
	maxInt4 = big.NewInt(math.MaxInt32)
)

// servePackage is PUT /package. The checks run in the real server's order:
// validation (422), lookup (404), final state (409 "already"), then, on
// today's server, the lease (409), and last what the database refuses at
// commit (500), which stores nothing.
func (s *Server) servePackage(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	sub, errs := parseSubmission(r.Header.Get("Content-Type"), info.body, s.opts.Era)

	s.mu.Lock()
	now := s.nowLocked()
	s.reapLocked(now)
	res := Result{At: now, Identity: info.identity, Body: info.body, Dropped: info.dropAfter}
	status, response := s.submitLocked(sub, errs, info.identity, now, &res)
	res.Status, res.Response = status, response
	s.results = append(s.results, res)
	s.notifyLocked()
	s.mu.Unlock()

	if status == http.StatusInternalServerError {
		writeServerError(w)
		return
	}
	writeRaw(w, status, response)
}

func (s *Server) submitLocked(sub submission, errs []fieldErr, identity string, now time.Time, res *Result) (int, []byte) {
	if errs != nil {
		return http.StatusUnprocessableEntity, marshal(map[string]any{"detail": errs})
	}
	res.Kind = "failure"
	if sub.success {
		res.Kind = "success"
	}
	res.Name, res.Version, res.AssignmentID = sub.name, sub.version, sub.assignmentID
	if sub.attempt != nil && sub.attempt.IsInt64() {
		res.Attempt = int(sub.attempt.Int64())
	}

	k := Key{sub.name, sub.version}
	j, ok := s.jobs[k]
	if !ok {
		return http.StatusNotFound, detailJSON("Package `%s` not found in database.", k)
	}

	// lease is the lease the result answers: the one its assignment names
	// on today's server, else the latest one the submitting worker held.
	// The first answer to a result from the lease's holder is noted on it.
	lease := j.heldBy(identity)
	if s.opts.Era == Today && sub.hasAssign {
		lease = j.byAssignment(sub.assignmentID)
	}
	answer := func(status int, body []byte) (int, []byte) {
		if lease != nil && lease.Identity == identity && lease.ResultAt.IsZero() {
			lease.ResultAt, lease.ResultStatus = now, status
		}
		return status, body
	}
	conflict := func(format string, args ...any) (int, []byte) {
		return answer(http.StatusConflict, detailJSON(format, args...))
	}
	serverError := func() (int, []byte) {
		return answer(http.StatusInternalServerError, []byte("Internal Server Error"))
	}

	switch {
	case j.stored != nil && j.stored.DeadLettered:
		// Not "already": a client must not read this as the success of an
		// earlier attempt whose answer it lost.
		return conflict("Package `%s` exhausted its scan attempts: %s.", k, j.stored.Reason)
	case j.state == StateFinished || j.state == StateFailed:
		return conflict("Package `%s` is already in a %s state.", k, j.state)
	}

	if s.opts.Era == Today {
		cur := j.current()
		switch {
		case sub.hasAttempt != sub.hasAssign:
			return conflict("Result for `%s` must carry both attempt and assignment_id, or neither.", k)
		case sub.hasAssign && lease == nil:
			return conflict("Assignment %s is not a lease of package `%s`.", sub.assignmentID, k)
		case sub.hasAssign && (!sub.attempt.IsInt64() || sub.attempt.Int64() != int64(lease.Attempt)):
			return conflict("Attempt %s does not match assignment %s of package `%s` (attempt %d).",
				sub.attempt, lease.AssignmentID, k, lease.Attempt)
		case sub.hasAssign && lease != cur:
			return conflict("Lease lost: package `%s` was handed to attempt %d after attempt %d expired.",
				k, cur.Attempt, lease.Attempt)
		case !sub.hasAssign && cur == nil:
			return conflict("Package `%s` is not leased to any worker.", k)
		case !sub.hasAssign:
			lease = cur
		}
		if lease.Identity != identity {
			return conflict("The lease of package `%s` (attempt %d) is held by another worker.", k, lease.Attempt)
		}
	}

	if sub.success {
		if sub.score.Cmp(minInt4) < 0 || sub.score.Cmp(maxInt4) > 0 {
			// PostgreSQL: integer out of range.
			return serverError()
		}
		seen := map[string]bool{}
		for _, name := range sub.rulesMatched {
			if seen[name] {
				// Two new rules of one name break the unique constraint on
				// rule names at commit.
				return serverError()
			}
			seen[name] = true
		}
	}

	stored := &StoredResult{Name: k.Name, Version: k.Version, Identity: identity, At: now}
	if sub.success {
		stored.State = StateFinished
		stored.Score = sub.score.Int64()
		stored.InspectorURL = sub.inspectorURL
		stored.RulesMatched = sub.rulesMatched
		stored.Commit = sub.commit
	} else {
		stored.State = StateFailed
		stored.Reason = sub.reason
	}
	if lease != nil {
		stored.Attempt, stored.AssignmentID = lease.Attempt, lease.AssignmentID
		lease.Stored = true
	}
	j.state = stored.State
	j.stored = stored
	return answer(http.StatusOK, []byte("null"))
}

func detailJSON(format string, args ...any) []byte {
	return marshal(map[string]string{"detail": fmt.Sprintf(format, args...)})
}
