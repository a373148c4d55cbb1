package ftp

import (
	"context"
	"errors"
	"net/textproto"
	"sync"
	"time"
)

// idleCheck is how long a connection may sit idle before it is checked with
// NOOP on reuse: servers drop idle clients, and a dead connection found in
// the middle of a STOR costs more than one round trip.
var idleCheck = 5 * time.Second

var errClosed = errors.New("remote closed")

// pool keeps logged-in control connections, one transfer each, and opens at
// most max of them at once. When the server refuses one more, max shrinks to
// what the server accepted, and callers wait for a free connection instead.
type pool struct {
	dial     func(ctx context.Context) (*session, error)
	onShrink func(n int, err error)
	onRetry  func(wait time.Duration, err error)

	mu     sync.Mutex
	idle   []*session
	n      int // sessions alive or being dialled
	live   int // sessions logged in and not yet dropped
	max    int
	closed bool
	warmed bool
	wake   chan struct{} // closed when a session or a slot frees
}

func newPool(max int, dial func(context.Context) (*session, error)) *pool {
	if max < 1 {
		max = 1
	}
	return &pool{dial: dial, max: max, wake: make(chan struct{})}
}

// broadcast wakes every waiter; p.mu must be held.
func (p *pool) broadcast() {
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *pool) get(ctx context.Context) (*session, error) {
	refusals := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errClosed
		}
		if k := len(p.idle); k > 0 {
			s := p.idle[k-1]
			p.idle = p.idle[:k-1]
			p.mu.Unlock()
			if time.Since(s.lastUsed) > idleCheck {
				if err := s.run(ctx, func() error { _, err := s.c.Cmd("NOOP"); return err }); err != nil {
					if ctx.Err() != nil {
						p.put(s)
						return nil, ctx.Err()
					}
					s.broken = true
					p.put(s)
					continue
				}
			}
			return s, nil
		}
		if p.n < p.max {
			p.n++
			p.mu.Unlock()
			s, err := p.dial(ctx)
			p.mu.Lock()
			if err == nil {
				p.live++
				p.mu.Unlock()
				return s, nil
			}
			p.n--
			var te *textproto.Error
			if errors.As(err, &te) && tooMany(te.Code, te.Msg) && ctx.Err() == nil {
				if p.live > 0 {
					// Go on with the connections the server took, and
					// those being dialled, which may still be refused.
					if p.max > p.n {
						p.max = p.n
						if p.onShrink != nil {
							p.onShrink(p.n, err)
						}
					}
					p.broadcast()
					p.mu.Unlock()
					continue
				}
				if p.n == 0 && refusals < len(firstRetry) {
					// Nothing of ours is connected: the server still
					// counts sessions that just ended (an earlier run's).
					wait := firstRetry[refusals]
					refusals++
					p.mu.Unlock()
					if p.onRetry != nil {
						p.onRetry(wait, err)
					}
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return nil, ctx.Err()
					}
					continue
				}
				if p.n > 0 {
					// Others are still dialling: wait for them.
					w := p.wake
					p.mu.Unlock()
					select {
					case <-w:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
					continue
				}
			}
			p.broadcast()
			p.mu.Unlock()
			return nil, err
		}
		w := p.wake
		p.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// firstRetry is how long to wait before asking again when the server
// refuses the only connection for being one too many.
var firstRetry = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}

// warm dials, in the background, the connections the pool may still open,
// so that they are logged in by the time parallel work asks for them: a
// login is seven round trips (TCP, AUTH TLS, the TLS handshake, USER, PASS,
// FEAT and the rest), time the first connection spends on the lock and the
// marker. It does so once.
func (p *pool) warm() {
	p.mu.Lock()
	if p.warmed || p.closed {
		p.mu.Unlock()
		return
	}
	p.warmed = true
	k := p.max - p.n
	p.mu.Unlock()
	for i := 0; i < k; i++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if s := p.grow(ctx); s != nil {
				p.put(s)
			}
		}()
	}
}

// grow dials one more session when the pool may open one, without waiting
// for a free slot; nil when it may not, or the dial failed.
func (p *pool) grow(ctx context.Context) *session {
	p.mu.Lock()
	if p.closed || p.n >= p.max {
		p.mu.Unlock()
		return nil
	}
	p.n++
	p.mu.Unlock()
	s, err := p.dial(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.live++
		return s
	}
	p.n--
	var te *textproto.Error
	if errors.As(err, &te) && tooMany(te.Code, te.Msg) && p.live > 0 && p.max > p.n {
		p.max = p.n
		if p.onShrink != nil {
			p.onShrink(p.n, err)
		}
	}
	p.broadcast()
	return nil
}

// limit returns how many connections the pool may open now.
func (p *pool) limit() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

// put returns a session after use; a broken one is dropped.
func (p *pool) put(s *session) {
	p.mu.Lock()
	if s.broken || p.closed {
		p.n--
		p.live--
		p.broadcast()
		p.mu.Unlock()
		s.close()
		return
	}
	s.lastUsed = time.Now()
	p.idle = append(p.idle, s)
	p.broadcast()
	p.mu.Unlock()
}

// close quits the idle sessions; busy ones are closed when put back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.n -= len(idle)
	p.live -= len(idle)
	p.broadcast()
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.close()
		}()
	}
	wg.Wait()
}
