package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// spoolLockFile is the lock file internal/spool keeps in its directory
// (TestProbeSpool opens a real spool to keep the two in step).
const spoolLockFile = "lock"

// probeSpool checks what run needs of the spool directory before it
// starts: that it is (or can be created as) a directory this user can
// write, that no other agent holds it, and that its file system has room
// for spool_max_bytes. It creates nothing that it leaves behind.
func probeSpool(dir string, maxBytes int64) []check {
	scope := "spool"
	who := currentUser()
	st, err := os.Stat(dir)
	var where string // an existing directory, for the free space
	switch {
	case err == nil && !st.IsDir():
		return []check{{scope: scope, name: dir, detail: "is not a directory; set elasticsearch.spool_dir to a directory"}}
	case err == nil:
		if err := tryWrite(dir); err != nil {
			return []check{{scope: scope, name: dir, detail: fmt.Sprintf("not writable by %s: %v; give that user the directory or set elasticsearch.spool_dir", who, err)}}
		}
		detail := "writable by " + who
		if inUse, err := spoolLocked(dir); err != nil {
			return []check{{scope: scope, name: dir, detail: fmt.Sprintf("lock file not usable by %s: %v", who, err)}}
		} else if inUse {
			detail += "; in use by a running lagship (a second run on this spool would not start)"
		}
		where = dir
		checks := []check{{scope: scope, name: dir, ok: true, detail: detail}}
		return append(checks, freeSpace(scope, where, maxBytes, spoolBytes(dir)))
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		parent, perr := existingParent(dir)
		if perr != nil {
			return []check{{scope: scope, name: dir, detail: fmt.Sprintf("cannot be created: %v; set elasticsearch.spool_dir to a directory %s can create", perr, who)}}
		}
		if err := tryCreate(parent); err != nil {
			return []check{{scope: scope, name: dir, detail: fmt.Sprintf("cannot be created by %s: %v; create it for that user or set elasticsearch.spool_dir", who, err)}}
		}
		where = parent
		checks := []check{{scope: scope, name: dir, ok: true, detail: "does not exist yet; run creates it (" + who + " may write " + parent + ")"}}
		return append(checks, freeSpace(scope, where, maxBytes, 0))
	default:
		return []check{{scope: scope, name: dir, detail: fmt.Sprintf("%v; set elasticsearch.spool_dir to a directory %s can use", err, who)}}
	}
}

// freeSpace compares the room left on dir's file system (plus what the
// spool already holds) with spool_max_bytes.
func freeSpace(scope, dir string, maxBytes, used int64) check {
	free, ok := diskFree(dir)
	if !ok {
		return check{scope: scope, name: "free space", ok: true, detail: "unknown on this system"}
	}
	c := check{scope: scope, name: "free space", ok: true, detail: fmt.Sprintf("%s free; spool_max_bytes %s", humanBytes(free), humanBytes(maxBytes))}
	if free+used < maxBytes {
		c.ok = false
		c.detail = fmt.Sprintf("%s free, less than spool_max_bytes %s: the disk would fill before the spool reaches its bound; free space or lower elasticsearch.spool_max_bytes", humanBytes(free), humanBytes(maxBytes))
	}
	return c
}

// existingParent is the nearest ancestor of dir that exists; it must be a
// directory.
func existingParent(dir string) (string, error) {
	p := filepath.Clean(dir)
	for {
		next := filepath.Dir(p)
		if next == p {
			return "", fmt.Errorf("no part of %s exists", dir)
		}
		p = next
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			return p, nil
		case err == nil:
			return "", fmt.Errorf("%s is not a directory", p)
		case !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
	}
}

// tryWrite creates, writes and removes a file in dir.
func tryWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".lagship-check-*")
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte("lagship check\n"))
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(werr, cerr, rerr)
}

// tryCreate creates and removes a directory in parent, as run's
// os.MkdirAll would create the spool there.
func tryCreate(parent string) error {
	d, err := os.MkdirTemp(parent, ".lagship-check-")
	if err != nil {
		return err
	}
	if err := tryWrite(d); err != nil {
		os.Remove(d)
		return err
	}
	return os.Remove(d)
}

// spoolBytes is what the files in dir hold.
func spoolBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

func currentUser() string {
	uid := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username + " (uid " + uid + ")"
	}
	return "uid " + uid
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
