package web

// twoFactorRoutes registers this area's pages (written in its own change).
func (s *Site) twoFactorRoutes() {}
