package audit

// Words says what the action was in a few plain words, for the website's
// security log and the administrators' audit page ("Token created"). An
// action without words of its own (none today: a test checks Actions) is
// shown as its name.
func (a Action) Words() string {
	switch a {
	case SignIn:
		return "Signed in"
	case SignUp:
		return "Account created"
	case PasswordChange:
		return "Password changed"
	case PasswordReset:
		return "Password set with a reset link"
	case EmailChange:
		return "Email changed"
	case SSOLink:
		return "Single sign-on provider linked"
	case TFAEnable:
		return "Two-factor authentication enabled"
	case TFADisable:
		return "Two-factor authentication disabled"
	case TFAModeChange:
		return "Two-factor mode changed"
	case TokenCreate:
		return "Token or session created"
	case TokenRevoke:
		return "Token or session revoked"
	case TokenNewAddress:
		return "Token used from a new address"
	case PackagePublish:
		return "Package published"
	case PackageUnpublish:
		return "Package unpublished"
	case PackageDeprecate:
		return "Deprecation changed"
	case DistTagSet:
		return "Dist-tag set"
	case DistTagRemove:
		return "Dist-tag removed"
	case OwnerAdd:
		return "Owner added"
	case OwnerRemove:
		return "Owner removed"
	case AccessChange:
		return "Package access changed"
	case PackageStage:
		return "Version staged"
	case StageApprove:
		return "Staged version approved"
	case StageReject:
		return "Staged version rejected"
	case HookCreate:
		return "Webhook added"
	case HookUpdate:
		return "Webhook changed"
	case HookDelete:
		return "Webhook removed"
	case TrustCreate:
		return "Trusted publisher added"
	case TrustRevoke:
		return "Trusted publisher removed"
	case TrustExchange:
		return "CI identity exchanged for a token"
	case PackageChange:
		return "Package change"
	case OrgCreate:
		return "Organization created"
	case OrgMemberSet:
		return "Organization member set"
	case OrgMemberRemove:
		return "Organization member removed"
	case TeamCreate:
		return "Team created"
	case TeamDelete:
		return "Team deleted"
	case TeamMemberAdd:
		return "Team member added"
	case TeamMemberRemove:
		return "Team member removed"
	case TeamPackageGrant:
		return "Team given a package"
	case TeamPackageRevoke:
		return "Team's package taken away"
	case AdminUserCreate:
		return "Account created by an administrator"
	case AdminPromote:
		return "Made an administrator"
	case AdminDemote:
		return "No longer an administrator"
	case AdminDisable:
		return "Account disabled"
	case AdminEnable:
		return "Account enabled"
	case AdminPasswordReset:
		return "Password reset by an administrator"
	case AdminTFAReset:
		return "Two-factor authentication reset by an administrator"
	case AdminTokensRevoke:
		return "All tokens revoked by an administrator"
	case AdminUserDelete:
		return "Account deleted"
	case AdminOwnerAdd:
		return "Owner added by an administrator"
	}
	return string(a)
}
