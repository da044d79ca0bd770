package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Org is an organization.
type Org struct {
	ID        int64
	Name      string
	CreatedAt int64
}

// Team is a team of an organization.
type Team struct {
	ID          int64
	OrgID       int64
	Name        string
	Description string
}

// Role is a member's role in an organization; "" means not a member.
type Role string

// The organization roles, from most to least powerful.
const (
	RoleOwner     Role = "owner"     // everything, the owner role included
	RoleAdmin     Role = "admin"     // members (owners aside), teams and their grants
	RoleDeveloper Role = "developer" // what the member's teams are granted
)

// Valid reports whether r is one of the roles (not "").
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleDeveloper }

// TeamPermission is what a team's grant on a package allows; "" means no grant.
type TeamPermission string

// The team permissions.
const (
	TeamReadOnly  TeamPermission = "read-only"  // install and view
	TeamReadWrite TeamPermission = "read-write" // also publish, deprecate, dist-tags, unpublish
)

// Valid reports whether p is one of the permissions (not "").
func (p TeamPermission) Valid() bool { return p == TeamReadOnly || p == TeamReadWrite }

// Member is a user's membership of an organization.
type Member struct {
	UserID int64
	Name   string
	Role   Role
}

// CreateOrg inserts an organization; a taken name is a Conflict.
func (q Queries) CreateOrg(ctx context.Context, name string) (Org, error) {
	o := Org{Name: name, CreatedAt: Now()}
	if err := q.row(ctx, `INSERT INTO orgs (name, created_at) VALUES (?, ?) RETURNING id`, name, o.CreatedAt).Scan(&o.ID); err != nil {
		return Org{}, fmt.Errorf("create org %q: %w", name, q.d.mapError(err))
	}
	return o, nil
}

// OrgByName finds an organization.
func (q Queries) OrgByName(ctx context.Context, name string) (Org, error) {
	var o Org
	err := q.row(ctx, `SELECT id, name, created_at FROM orgs WHERE name = ?`, name).Scan(&o.ID, &o.Name, &o.CreatedAt)
	if err != nil {
		return Org{}, q.scanErr(err, "Not found")
	}
	return o, nil
}

// Membership is one organization a user belongs to, with the role.
type Membership struct {
	Org  Org
	Role Role
}

// OrgsOf lists the organizations a user belongs to.
func (q Queries) OrgsOf(ctx context.Context, userID int64) ([]Membership, error) {
	rows, err := q.query(ctx, `SELECT o.id, o.name, o.created_at, m.role FROM org_members m JOIN orgs o ON o.id = m.org_id
		WHERE m.user_id = ? ORDER BY o.name`, userID)
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.Org.ID, &m.Org.Name, &m.Org.CreatedAt, &m.Role); err != nil {
			return nil, fmt.Errorf("scan org: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// RoleIn returns the user's role in the org, "" when not a member.
func (q Queries) RoleIn(ctx context.Context, orgID, userID int64) (Role, error) {
	var role Role
	err := q.row(ctx, `SELECT role FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read role: %w", q.d.mapError(err))
	}
	return role, nil
}

// SetMember adds a member or changes their role.
func (q Queries) SetMember(ctx context.Context, orgID, userID int64, role Role) error {
	_, err := q.exec(ctx, `INSERT INTO org_members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, string(role), Now())
	if err != nil {
		return fmt.Errorf("set member: %w", err)
	}
	return nil
}

// RemoveMember takes a user out of an organization and all its teams.
func (q Queries) RemoveMember(ctx context.Context, orgID, userID int64) error {
	if _, err := q.exec(ctx, `DELETE FROM team_members WHERE user_id = ? AND team_id IN (SELECT id FROM teams WHERE org_id = ?)`,
		userID, orgID); err != nil {
		return fmt.Errorf("remove from teams: %w", err)
	}
	if _, err := q.exec(ctx, `DELETE FROM org_members WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	return nil
}

// Members lists an organization's members by name.
func (q Queries) Members(ctx context.Context, orgID int64) ([]Member, error) {
	rows, err := q.query(ctx, `SELECT u.id, u.name, m.role FROM org_members m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? ORDER BY u.name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.UserID, &m.Name, &m.Role); err != nil {
			return nil, fmt.Errorf("scan member: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CreateTeam inserts a team; a taken name is a Conflict.
func (q Queries) CreateTeam(ctx context.Context, orgID int64, name, description string) (Team, error) {
	t := Team{OrgID: orgID, Name: name, Description: description}
	err := q.row(ctx, `INSERT INTO teams (org_id, name, description, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		orgID, name, description, Now()).Scan(&t.ID)
	if err != nil {
		return Team{}, fmt.Errorf("create team %q: %w", name, q.d.mapError(err))
	}
	return t, nil
}

// TeamByName finds a team of an organization.
func (q Queries) TeamByName(ctx context.Context, orgID int64, name string) (Team, error) {
	var t Team
	err := q.row(ctx, `SELECT id, org_id, name, description FROM teams WHERE org_id = ? AND name = ?`, orgID, name).
		Scan(&t.ID, &t.OrgID, &t.Name, &t.Description)
	if err != nil {
		return Team{}, q.scanErr(err, "Team not found")
	}
	return t, nil
}

// DeleteTeam removes a team with its members and grants.
func (q Queries) DeleteTeam(ctx context.Context, teamID int64) error {
	if _, err := q.exec(ctx, `DELETE FROM teams WHERE id = ?`, teamID); err != nil {
		return fmt.Errorf("delete team: %w", err)
	}
	return nil
}

// Teams lists an organization's teams by name.
func (q Queries) Teams(ctx context.Context, orgID int64) ([]Team, error) {
	rows, err := q.query(ctx, `SELECT id, org_id, name, description FROM teams WHERE org_id = ? ORDER BY name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	var out []Team
	for rows.Next() {
		var t Team
		if err := rows.Scan(&t.ID, &t.OrgID, &t.Name, &t.Description); err != nil {
			return nil, fmt.Errorf("scan team: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// AddTeamMember puts a user in a team (no-op if there).
func (q Queries) AddTeamMember(ctx context.Context, teamID, userID int64) error {
	_, err := q.exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES (?, ?) ON CONFLICT (team_id, user_id) DO NOTHING`,
		teamID, userID)
	if err != nil {
		return fmt.Errorf("add team member: %w", err)
	}
	return nil
}

// RemoveTeamMember takes a user out of a team.
func (q Queries) RemoveTeamMember(ctx context.Context, teamID, userID int64) error {
	if _, err := q.exec(ctx, `DELETE FROM team_members WHERE team_id = ? AND user_id = ?`, teamID, userID); err != nil {
		return fmt.Errorf("remove team member: %w", err)
	}
	return nil
}

// TeamMembers lists a team's members by name.
func (q Queries) TeamMembers(ctx context.Context, teamID int64) ([]string, error) {
	rows, err := q.query(ctx, `SELECT u.name FROM team_members m JOIN users u ON u.id = m.user_id
		WHERE m.team_id = ? ORDER BY u.name`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list team members: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("scan team member: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// GrantTeam gives a team a permission on a package (replacing an older one).
func (q Queries) GrantTeam(ctx context.Context, teamID, packageID int64, permission TeamPermission) error {
	_, err := q.exec(ctx, `INSERT INTO team_packages (team_id, package_id, permission) VALUES (?, ?, ?)
		ON CONFLICT (team_id, package_id) DO UPDATE SET permission = excluded.permission`, teamID, packageID, string(permission))
	if err != nil {
		return fmt.Errorf("grant team: %w", err)
	}
	return nil
}

// RevokeTeam removes a team's permission on a package.
func (q Queries) RevokeTeam(ctx context.Context, teamID, packageID int64) error {
	if _, err := q.exec(ctx, `DELETE FROM team_packages WHERE team_id = ? AND package_id = ?`, teamID, packageID); err != nil {
		return fmt.Errorf("revoke team: %w", err)
	}
	return nil
}

// TeamPackages lists a team's packages and permissions.
func (q Queries) TeamPackages(ctx context.Context, teamID int64) (map[string]string, error) {
	return q.permissionMap(ctx, `SELECT p.name, g.permission FROM team_packages g JOIN packages p ON p.id = g.package_id
		WHERE g.team_id = ?`, teamID)
}

// ScopePackages lists the packages of a scope (all read-write to the scope's owner).
func (q Queries) ScopePackages(ctx context.Context, scope string) (map[string]string, error) {
	return q.permissionMap(ctx, `SELECT name, 'read-write' FROM packages WHERE scope = ? LIMIT 10000`, scope)
}

// UserPackages lists the packages a user maintains (read-write) or reaches
// through a team (its permission), the stronger one winning.
func (q Queries) UserPackages(ctx context.Context, userID int64) (map[string]string, error) {
	return q.permissionMap(ctx, `SELECT p.name, MAX(x.permission) FROM (
			SELECT package_id, 'read-write' AS permission FROM owners WHERE user_id = ?
			UNION ALL
			SELECT g.package_id, g.permission FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
			WHERE m.user_id = ?
		) x JOIN packages p ON p.id = x.package_id GROUP BY p.name LIMIT 10000`, userID, userID)
}

// maxListed bounds every package list.
const maxListed = 10000

// ListedPackage is one package of a package list, with what policy needs to
// decide whether the viewer sees it.
type ListedPackage struct {
	Name   string
	Scope  string
	Access Access
	// Permission is what the listed user holds on it (PackagesOf); "" in a
	// scope's list.
	Permission TeamPermission
	// Viewer is the viewing user's rights on it, read as Rights reads them.
	Viewer Rights
}

// viewerRights are the columns of a package list that read, for the package
// row p, the viewer's rights as Rights does: ownership, role in the
// organization owning the scope, and (scoped packages only) team grants.
// Each of the three takes the viewer's id as its argument.
const viewerRights = `
	EXISTS (SELECT 1 FROM owners o WHERE o.package_id = p.id AND o.user_id = ?),
	COALESCE((SELECT m.role FROM orgs og JOIN org_members m ON m.org_id = og.id WHERE og.name = p.scope AND m.user_id = ?), ''),
	COALESCE((SELECT MAX(g.permission) FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
		WHERE p.scope <> '' AND g.package_id = p.id AND m.user_id = ?), '')`

// PackagesOf lists, by name, the packages the user userID maintains
// (read-write) or reaches through a team (its permission), the stronger one
// winning, each with viewerID's rights on it (none for viewer 0).
func (q Queries) PackagesOf(ctx context.Context, userID, viewerID int64) ([]ListedPackage, error) {
	return q.listPackages(ctx, `SELECT p.name, p.scope, p.access, x.permission,`+viewerRights+`
		FROM (SELECT package_id, MAX(permission) AS permission FROM (
				SELECT package_id, 'read-write' AS permission FROM owners WHERE user_id = ?
				UNION ALL
				SELECT g.package_id, g.permission FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
				WHERE m.user_id = ?
			) y GROUP BY package_id) x
		JOIN packages p ON p.id = x.package_id ORDER BY p.name LIMIT ?`,
		viewerID, viewerID, viewerID, userID, userID, maxListed)
}

// PackagesInScope lists, by name, the packages of a scope, each with
// viewerID's rights on it (none for viewer 0).
func (q Queries) PackagesInScope(ctx context.Context, scope string, viewerID int64) ([]ListedPackage, error) {
	return q.listPackages(ctx, `SELECT p.name, p.scope, p.access, '',`+viewerRights+`
		FROM packages p WHERE p.scope = ? ORDER BY p.name LIMIT ?`,
		viewerID, viewerID, viewerID, scope, maxListed)
}

func (q Queries) listPackages(ctx context.Context, query string, args ...any) ([]ListedPackage, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list packages: %w", err)
	}
	defer rows.Close()
	var out []ListedPackage
	for rows.Next() {
		var l ListedPackage
		if err := rows.Scan(&l.Name, &l.Scope, &l.Access, &l.Permission,
			&l.Viewer.Owner, &l.Viewer.OrgRole, &l.Viewer.TeamPermission); err != nil {
			return nil, fmt.Errorf("scan listed package: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Collaborators lists who may touch a package: maintainers (read-write) and
// team members through grants, the stronger permission winning.
func (q Queries) Collaborators(ctx context.Context, packageID int64) (map[string]string, error) {
	return q.permissionMap(ctx, `SELECT u.name, MAX(x.permission) FROM (
			SELECT user_id, 'read-write' AS permission FROM owners WHERE package_id = ?
			UNION ALL
			SELECT m.user_id, g.permission FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
			WHERE g.package_id = ?
		) x JOIN users u ON u.id = x.user_id GROUP BY u.name`, packageID, packageID)
}

// TeamPermission is the strongest permission a user has on a package through
// teams: "", read-only or read-write.
func (q Queries) TeamPermission(ctx context.Context, packageID, userID int64) (TeamPermission, error) {
	var perm sql.NullString
	err := q.row(ctx, `SELECT MAX(g.permission) FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
		WHERE g.package_id = ? AND m.user_id = ?`, packageID, userID).Scan(&perm)
	if err != nil {
		return "", fmt.Errorf("team permission: %w", q.d.mapError(err))
	}
	return TeamPermission(perm.String), nil
}

// Rights is what a user holds on one package: what policy needs to decide.
type Rights struct {
	Owner          bool           // the user is one of the package's owners
	OrgRole        Role           // the user's role in the organization owning the scope, or ""
	TeamPermission TeamPermission // the best permission the user's teams have on the package, or ""
}

// Rights reads the user's rights on a package (of scope, "" when unscoped)
// in one query: ownership, organization role and team grants. Only scoped
// packages belong to organizations, so an unscoped one has neither of the
// last two.
func (q Queries) Rights(ctx context.Context, packageID int64, scope string, userID int64) (Rights, error) {
	var r Rights
	err := q.row(ctx, `SELECT
		EXISTS (SELECT 1 FROM owners WHERE package_id = ? AND user_id = ?),
		COALESCE((SELECT m.role FROM orgs o JOIN org_members m ON m.org_id = o.id WHERE o.name = ? AND m.user_id = ?), ''),
		COALESCE((SELECT MAX(g.permission) FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
			WHERE ? <> '' AND g.package_id = ? AND m.user_id = ?), '')`,
		packageID, userID, scope, userID, scope, packageID, userID).Scan(&r.Owner, &r.OrgRole, &r.TeamPermission)
	if err != nil {
		return Rights{}, fmt.Errorf("read rights: %w", q.d.mapError(err))
	}
	return r, nil
}

// ScopeRole is the user's role in the organization owning scope, "" when
// the scope is not an organization's or the user is not a member.
func (q Queries) ScopeRole(ctx context.Context, scope string, userID int64) (Role, error) {
	var role Role
	err := q.row(ctx, `SELECT m.role FROM orgs o JOIN org_members m ON m.org_id = o.id WHERE o.name = ? AND m.user_id = ?`,
		scope, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("scope role: %w", q.d.mapError(err))
	}
	return role, nil
}

func (q Queries) permissionMap(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list permissions: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("scan permission: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// PublishedPackage is a package of the recently published list: what policy
// needs to decide whether the viewer sees it, and what the list shows.
type PublishedPackage struct {
	ListedPackage
	Description string
	Version     string // the version published last
	PublishedAt int64  // when, in Unix milliseconds
}

// readableBy is the condition, on the package row p, that the viewer (whose
// id is its three arguments) may read it as a user: public, or they own it,
// reach it through a team, or administer the organization of its scope. It
// only narrows what the database returns; policy.Listed decides what is shown.
const readableBy = `(p.access = 'public'
	OR EXISTS (SELECT 1 FROM owners o WHERE o.package_id = p.id AND o.user_id = ?)
	OR EXISTS (SELECT 1 FROM team_packages g JOIN team_members m ON m.team_id = g.team_id
		WHERE g.package_id = p.id AND m.user_id = ?)
	OR EXISTS (SELECT 1 FROM orgs og JOIN org_members om ON om.org_id = og.id
		WHERE og.name = p.scope AND om.user_id = ? AND om.role IN ('owner', 'admin')))`

// maxRecentScan bounds how many versions RecentlyPublished reads to find its
// packages (several new versions of one package count once).
const maxRecentScan = 500

// RecentlyPublished lists up to limit packages that viewerID's user may read
// (none but public ones for viewer 0), the one with the newest version
// first, each with that version and viewerID's rights on it. It reads the
// newest versions by the versions_by_published index and stops at limit
// packages or maxRecentScan versions.
func (q Queries) RecentlyPublished(ctx context.Context, viewerID int64, limit int) ([]PublishedPackage, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := q.query(ctx, `SELECT p.name, p.scope, p.access, '',`+viewerRights+`, p.description, v.version, v.published_at
		FROM versions v JOIN packages p ON p.id = v.package_id
		WHERE `+readableBy+` ORDER BY v.published_at DESC, v.package_id DESC LIMIT ?`,
		viewerID, viewerID, viewerID, viewerID, viewerID, viewerID, min(limit*10, maxRecentScan))
	if err != nil {
		return nil, fmt.Errorf("recently published: %w", err)
	}
	defer rows.Close()
	var out []PublishedPackage
	seen := map[string]bool{}
	for rows.Next() {
		var r PublishedPackage
		l := &r.ListedPackage
		if err := rows.Scan(&l.Name, &l.Scope, &l.Access, &l.Permission, &l.Viewer.Owner, &l.Viewer.OrgRole,
			&l.Viewer.TeamPermission, &r.Description, &r.Version, &r.PublishedAt); err != nil {
			return nil, fmt.Errorf("scan recently published: %w", err)
		}
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r)
		}
		if len(out) == limit {
			break
		}
	}
	return out, rows.Err()
}
