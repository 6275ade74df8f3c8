package archive

// recordingBudget is a Budget that remembers what it lent.
type recordingBudget struct {
	size, held, peak int64
}

func (b *recordingBudget) TryAcquire(n int64) bool {
	if b.held+n > b.size {
		return false
	}
	b.held += n
	b.peak = max(b.peak, b.held)
	return true
}

func (b *recordingBudget) Release(n int64) { b.held -= n }
