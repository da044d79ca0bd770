package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
)

// userList prints a page of the accounts, as an administrator sees them:
// gatehouse user list [--search S] [--after NAME] [--per-page N] [--json].
func userList(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse user list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	search := fs.String("search", "", "keep the accounts whose name or email contains this (any case)")
	after := fs.String("after", "", "start after this name (the last name of the previous page)")
	perPage := fs.Int("per-page", admin.DefaultPerPage, fmt.Sprintf("accounts a page, 1 to %d", admin.MaxPerPage))
	asJSON := fs.Bool("json", false, "print JSON")
	storage := addStorageFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: gatehouse user list [--search S] [--after NAME] [--per-page N] [--json]")
	}
	srv, _, err := storage.open(stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	page, err := srv.Admin.Users(context.Background(), audit.Operator(), *search, *after, *perPage)
	if err != nil {
		return err
	}
	type row struct {
		Name       string `json:"name"`
		Email      string `json:"email"`
		Created    string `json:"created"`
		LastSignIn string `json:"last_signin,omitempty"`
		TFA        bool   `json:"tfa"`
		Admin      bool   `json:"admin"`
		Disabled   bool   `json:"disabled"`
	}
	rows := make([]row, 0, len(page.Users))
	for _, u := range page.Users {
		r := row{Name: u.Name, Email: u.Email, Created: isoMillis(u.CreatedAt), TFA: u.TFA, Admin: u.Admin, Disabled: u.Disabled()}
		if u.LastSignInAt != 0 {
			r.LastSignIn = isoMillis(u.LastSignInAt)
		}
		rows = append(rows, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"users": rows, "total": page.Total, "next": page.Next})
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tEMAIL\tCREATED\tLAST SIGN-IN\t2FA\tADMIN\tDISABLED")
	for _, r := range rows {
		last := r.LastSignIn
		if last == "" {
			last = "never"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Email, r.Created, last, yes(r.TFA), yes(r.Admin), yes(r.Disabled))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d of %d account(s)", len(rows), page.Total)
	if page.Next != "" {
		fmt.Fprintf(stdout, "; next page: --after %s", page.Next)
	}
	fmt.Fprintln(stdout)
	return nil
}

func isoMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

// userAdmin resets a password or 2FA, revokes every token, or deletes an
// account, as the operator (recorded so in the audit log).
func userAdmin(verb string, args []string, stdout, stderr io.Writer, use string) error {
	fs := flag.NewFlagSet("gatehouse user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var heir, url *string
	switch verb {
	case "delete":
		heir = fs.String("heir", "", "the user, or the organization whose owners, take the packages the account owns alone")
	case "reset-password":
		url = fs.String("url", "", "the registry's public address, to print the whole reset link (default: serve's --url, from GATEHOUSE_URL or the config file)")
	}
	name, srv, cfg, err := addStorageFlags(fs).openNamed(fs, args, stderr, use)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, op := context.Background(), audit.Operator()
	switch verb {
	case "reset-password":
		r, err := srv.Admin.ResetPassword(ctx, op, admin.Confirm{}, name)
		if err != nil {
			return err
		}
		base := *url
		if base == "" {
			base = cfg.URL
		}
		fmt.Fprintf(stdout, "reset the password of %s: the old one and every login session no longer work.\n", r.User)
		fmt.Fprintf(stdout, "Hand this link to %s; it sets a new password once, until %s:\n", r.User, r.Expires.UTC().Format(time.RFC3339))
		if base == "" {
			fmt.Fprintf(stdout, "  %s\n", r.Path())
			fmt.Fprintln(stdout, "(no --url is set: put the registry's public address in front of the path, as in https://registry.example.com"+r.Path()+")")
			return nil
		}
		fmt.Fprintf(stdout, "  %s%s\n", strings.TrimRight(base, "/"), r.Path())
	case "reset-2fa":
		if err := srv.Admin.ResetTFA(ctx, op, admin.Confirm{}, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reset the two-factor authentication of %s: they sign in with their password and must enable it again before any write\n", name)
	case "revoke-tokens":
		n, err := srv.Admin.RevokeTokens(ctx, op, admin.Confirm{}, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d token(s) and session(s) of %s\n", n, name)
	case "delete":
		d, err := srv.Admin.DeleteUser(ctx, op, admin.Confirm{}, name, *heir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s", d.User)
		if len(d.HandedOver) > 0 {
			fmt.Fprintf(stdout, "; %s handed to %s", strings.Join(d.HandedOver, ", "), strings.Join(d.Heirs, ", "))
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// packageCommand is gatehouse package add-owner PKG USER: an owner added to
// any package, by the operator, recorded as admin.owner_add.
func packageCommand(args []string, stdout, stderr io.Writer) error {
	const use = "usage: gatehouse package add-owner PKG USER [--data DIR] [--database URL] [--key-file FILE] [--config FILE]"
	if len(args) < 3 || args[0] != "add-owner" || strings.HasPrefix(args[1], "-") || strings.HasPrefix(args[2], "-") {
		return errors.New(use)
	}
	pkg, user := args[1], args[2]
	fs := flag.NewFlagSet("gatehouse package add-owner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storage := addStorageFlags(fs)
	if err := fs.Parse(args[3:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New(use)
	}
	srv, _, err := storage.open(stderr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Admin.AddOwner(context.Background(), audit.Operator(), admin.Confirm{}, pkg, user); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s as an owner of %s\n", user, pkg)
	return nil
}
