package dumbhttp

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Update says what a publish does to one published ref, in git push's
// words.
type Update string

// The updates, as the plan shows them.
const (
	// UpdateNew publishes a ref the target did not have.
	UpdateNew Update = "new"
	// UpdateFastForward moves a branch forward: the new commit contains
	// the published one.
	UpdateFastForward Update = "fast-forward"
	// UpdateForced moves a ref that is not a fast-forward (a rewound or
	// rewritten branch, a moved tag, or a published commit the local
	// repository lacks), because Options.Force says so.
	UpdateForced Update = "forced"
	// UpdateDeleted removes a published ref that is gone locally, because
	// Options.Prune says so.
	UpdateDeleted Update = "deleted"
	// UpdateKept leaves a published ref that the local repository does not
	// have (a CI checkout of one branch) where it is.
	UpdateKept Update = "kept"
	// UpdateRejected is a ref that would move without being a
	// fast-forward: the publish refuses, and changes nothing.
	UpdateRejected Update = "rejected"
)

// Why a ref is rejected, as git push says it.
const (
	// ReasonFetchFirst: the published commit is not in the local
	// repository, so someone else published work that it lacks.
	ReasonFetchFirst = "fetch first"
	// ReasonNonFastForward: the local commit does not contain the
	// published one (an older or rewritten branch).
	ReasonNonFastForward = "non-fast-forward"
	// ReasonTagExists: a published tag never moves without Force.
	ReasonTagExists = "already exists"
	// ReasonMissingLocally: a kept ref matches the published patterns but
	// does not exist locally (Prune would delete it).
	ReasonMissingLocally = "missing locally"
	// ReasonNotSelected: a kept ref does not match the published patterns.
	ReasonNotSelected = "not selected"
)

// RefChange is what a publish does to one ref. Old is the published value
// (zero for a new ref), New the value it gets (zero when deleted; Old for a
// kept ref; the refused local value for a rejected one). Reason says why a ref is rejected or kept, or why a
// forced one needed the force.
type RefChange struct {
	Name     string
	Old, New plumbing.Hash
	Update   Update
	Reason   string
}

// ErrRejected is wrapped by RejectedError.
var ErrRejected = errors.New("published refs would not move forward")

// RejectedError says a publish refused to move published refs that are not
// fast-forwards. Nothing was written.
type RejectedError struct{ Refs []RefChange }

func (e *RejectedError) Error() string {
	var parts []string
	for _, r := range e.Refs {
		parts = append(parts, fmt.Sprintf("%s (%s)", r.Name, r.Reason))
	}
	return fmt.Sprintf("publish: %v: %s", ErrRejected, strings.Join(parts, ", "))
}

func (e *RejectedError) Unwrap() error { return ErrRejected }

// FetchFirst reports whether a rejected ref's published commit is missing
// locally, which calls for a fetch rather than a merge or rebase.
func (e *RejectedError) FetchFirst() bool {
	return slices.ContainsFunc(e.Refs, func(r RefChange) bool { return r.Reason == ReasonFetchFirst })
}

// Tags reports whether every rejected ref is a tag that moved.
func (e *RejectedError) Tags() bool {
	return !slices.ContainsFunc(e.Refs, func(r RefChange) bool { return r.Reason != ReasonTagExists })
}

// decideRefs compares the published refs with the local ones selected by
// patterns, as git push compares a remote's refs with the pushed ones. It
// returns the refs the target will list (the published value of a kept or
// rejected ref, the local value of the others) and the change to each ref
// that is not already up to date, in name order.
func decideRefs(s *filesystem.Storage, published, local []Ref, patterns []string, force, prune bool) (final []Ref, changes []RefChange) {
	old := map[string]Ref{}
	for _, r := range published {
		old[r.Name] = r
	}
	mine := map[string]bool{}
	for _, l := range local {
		mine[l.Name] = true
		o, ok := old[l.Name]
		switch {
		case !ok:
			changes = append(changes, RefChange{Name: l.Name, New: l.Hash, Update: UpdateNew})
		case o.Hash == l.Hash:
			// Up to date.
		default:
			c := RefChange{Name: l.Name, Old: o.Hash, New: l.Hash, Update: UpdateFastForward}
			c.Reason = notFastForward(s, o.Hash, l.Hash, l.Name)
			switch {
			case c.Reason == "":
			case force:
				c.Update = UpdateForced
			default:
				c.Update = UpdateRejected
				changes = append(changes, c)
				final = append(final, o)
				continue
			}
			changes = append(changes, c)
		}
		final = append(final, l)
	}
	for _, o := range published {
		if mine[o.Name] {
			continue
		}
		selected := matchRef(o.Name, patterns)
		if prune && selected {
			changes = append(changes, RefChange{Name: o.Name, Old: o.Hash, Update: UpdateDeleted})
			continue
		}
		why := ReasonNotSelected
		if selected {
			why = ReasonMissingLocally
		}
		changes = append(changes, RefChange{Name: o.Name, Old: o.Hash, New: o.Hash, Update: UpdateKept, Reason: why})
		final = append(final, o)
	}
	sortRefs(final)
	slices.SortFunc(changes, func(a, b RefChange) int { return strings.Compare(a.Name, b.Name) })
	return final, changes
}

// notFastForward says why moving name from old to new is not a
// fast-forward, or "" when it is: new's history contains old. A tag never
// moves forward, and a published commit that the local repository lacks
// (someone else's, or cut off by a shallow clone) cannot be shown to be
// contained.
func notFastForward(s *filesystem.Storage, old, new plumbing.Hash, name string) string {
	if strings.HasPrefix(name, "refs/tags/") {
		return ReasonTagExists
	}
	if s.HasEncodedObject(old) != nil {
		return ReasonFetchFirst
	}
	oc, err := object.GetCommit(s, old)
	if err != nil {
		return ReasonNonFastForward
	}
	nc, err := object.GetCommit(s, new)
	if err != nil {
		return ReasonNonFastForward
	}
	if ok, err := oc.IsAncestor(nc); err != nil || !ok {
		return ReasonNonFastForward
	}
	return ""
}
