package testkit

import "time"

// WaitOutStepEnd sleeps until the next step begins when less than margin is
// left of the current one, steps being period long from the Unix epoch (as
// TOTP's are). A test that sends the previous step's one-time password calls
// it first: sent in a step's last moment, that code would be read by the
// server a step later, two steps old and out of its window.
func WaitOutStepEnd(period, margin time.Duration) {
	now := time.Now()
	if left := period - time.Duration(now.UnixNano())%period; left < margin {
		time.Sleep(left)
	}
}
