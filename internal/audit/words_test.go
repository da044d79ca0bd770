package audit

import "testing"

// TestActionWords checks that every action has words of its own, distinct
// from every other's, so that the website never shows a bare action name.
func TestActionWords(t *testing.T) {
	seen := map[string]Action{}
	for _, a := range Actions() {
		w := a.Words()
		if w == "" || w == string(a) {
			t.Errorf("%s has no words", a)
		}
		if other, ok := seen[w]; ok {
			t.Errorf("%s and %s share the words %q", a, other, w)
		}
		seen[w] = a
	}
	if got := Action("made.up").Words(); got != "made.up" {
		t.Errorf("an unknown action is shown as %q, want its name", got)
	}
}
