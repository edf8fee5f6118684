package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
)

// fuzzDump is a small but complete mariadb-dump script with every kind of
// DEFINER clause the rewriter knows.
const fuzzDump = "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n" +
	"--\n-- Host: 127.0.0.1    Database: cust_a_my_x\n" +
	"/*!40101 SET NAMES utf8mb4 */;\n" +
	"CREATE TABLE `t` (`v` int);\n" +
	"INSERT INTO `t` VALUES (1),(2);\n" +
	"/*!50001 CREATE ALGORITHM=UNDEFINED */\n" +
	"/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n" +
	"/*!50001 VIEW `v` AS select 1 AS `one` */;\n" +
	"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.v = 1 */;;\n" +
	"/*!50106 CREATE*/ /*!50117 DEFINER=`admin`@`localhost`*/ /*!50106 EVENT `ev` ON SCHEDULE EVERY 1 DAY DO select 1 */ ;;\n" +
	"CREATE DEFINER=`other`@`%` PROCEDURE `p`()\nselect 1 ;;\n" +
	"CREATE DEFINER='x'@'y' FUNCTION `f`() RETURNS int(11)\nreturn 1 ;;\n" +
	"-- Dump completed on 2026-11-30  5:00:00\n"

// fuzzOwner is the account every definer must be rewritten to.
const fuzzOwner = "`cust_a_my_x`@`%`"

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// complete reports whether script has the dump header and trailer.
func complete(script []byte) bool {
	e := &dumpEnds{}
	e.Write(script)
	return e.check() == nil
}

// FuzzMariaDBSnapshotVerify damages a compressed snapshot (truncation and a
// changed byte) and verifies it. Invariant: a snapshot is accepted only if
// it decompresses to exactly the script that was compressed and that
// script is a complete dump; a corrupted or truncated snapshot is rejected,
// never half-accepted. Nothing panics.
//
// The seeds run in plain `go test`; explore with
// go test -short -run='^$' -fuzz=FuzzMariaDBSnapshotVerify ./internal/backup
func FuzzMariaDBSnapshotVerify(f *testing.F) {
	f.Add([]byte(fuzzDump), uint32(0), uint32(0), byte(0))
	f.Add([]byte(fuzzDump), uint32(40), uint32(0), byte(0))
	f.Add([]byte(fuzzDump), uint32(0), uint32(30), byte(1))
	f.Add([]byte(fuzzDump), uint32(0), uint32(3), byte(0x10)) // gzip flags
	f.Add([]byte(fuzzDump), uint32(0), uint32(4), byte(0xff)) // mtime: harmless
	f.Add([]byte(fuzzDump[:len(fuzzDump)-20]), uint32(0), uint32(0), byte(0))
	f.Add([]byte("-- MariaDB dump\n-- Dump completed"), uint32(0), uint32(0), byte(0))
	f.Add([]byte("not a dump"), uint32(0), uint32(0), byte(0))
	f.Add([]byte(""), uint32(0), uint32(0), byte(0))
	f.Fuzz(func(t *testing.T, script []byte, cut, pos uint32, xor byte) {
		snap := gz(script)
		if cut > 0 {
			snap = snap[:len(snap)-int(cut%uint32(len(snap)))]
		}
		if len(snap) > 0 && xor != 0 {
			snap[int(pos%uint32(len(snap)))] ^= xor
		}
		err := verifyMariaDB(context.Background(), bytes.NewReader(snap))
		if err != nil {
			return
		}
		if !complete(script) {
			t.Fatalf("accepted a snapshot of an incomplete dump %q", script)
		}
		zr, zerr := gzip.NewReader(bytes.NewReader(snap))
		if zerr != nil {
			t.Fatalf("accepted a snapshot gzip cannot open: %v", zerr)
		}
		got, rerr := io.ReadAll(zr)
		if rerr != nil || !bytes.Equal(got, script) {
			t.Fatalf("accepted a damaged snapshot (read error %v; content changed: %t)", rerr, !bytes.Equal(got, script))
		}
	})
}

// FuzzDefinerRewriter runs arbitrary scripts through the restore's DEFINER
// rewriter. Invariants: nothing panics; a script without the dump header
// or the completion trailer ends in an error (it never reaches the client
// looking complete); for a script read to the end, every DEFINER clause the
// rewriter recognizes names the owner's account, and the rewriter changed
// nothing but definer accounts (the output with definers blanked equals the
// input with definers blanked).
//
// The seeds run in plain `go test`; explore with
// go test -short -run='^$' -fuzz=FuzzDefinerRewriter ./internal/backup
func FuzzDefinerRewriter(f *testing.F) {
	f.Add([]byte(fuzzDump))
	f.Add([]byte(fuzzDump[:len(fuzzDump)-10]))
	f.Add([]byte(strings.Replace(fuzzDump, "-- MariaDB dump", "-- Maria dump", 1)))
	f.Add([]byte("-- MariaDB dump\nCREATE DEFINER=`a``b`@`%` PROCEDURE p() select 1;\n-- Dump completed\n"))
	f.Add([]byte("-- MariaDB dump\nCREATE DEFINER=`a\n`@`%` PROCEDURE p() select 1;\n-- Dump completed\n"))
	f.Add([]byte("-- MariaDB dump\nCREATE OR REPLACE DEFINER='a\\'b'@'%' VIEW v AS select 1;\n-- Dump completed\n"))
	f.Add([]byte("-- MariaDB dump\n" + strings.Repeat("x", definerLineBuffer+10) + "\nCREATE DEFINER=`r`@`h` EVENT e\n-- Dump completed\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		out, err := io.ReadAll(newDefinerRewriter(bytes.NewReader(script), fuzzOwner))
		if err != nil {
			return
		}
		if !complete(script) {
			t.Fatalf("the rewriter passed an incomplete dump to the end: %q", script)
		}
		if got, want := blankDefiners(out), blankDefiners(script); !bytes.Equal(got, want) {
			t.Fatalf("the rewriter changed more than definers:\n%q\nbecame\n%q", script, out)
		}
		for _, line := range bytes.SplitAfter(out, []byte("\n")) {
			for _, re := range definerREs {
				if m := re.FindSubmatch(line); m != nil && string(m[1]) != fuzzOwner {
					t.Fatalf("definer %q left in line %q", m[1], line)
				}
			}
		}
	})
}

// blankDefiners replaces the account of every DEFINER clause the rewriter
// recognizes at a line start with "?".
func blankDefiners(script []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(script, []byte("\n")) {
		for _, re := range definerREs {
			if m := re.FindSubmatchIndex(line); m != nil {
				line = append(append(append([]byte{}, line[:m[2]]...), '?'), line[m[3]:]...)
				break
			}
		}
		out = append(out, line...)
	}
	return out
}
