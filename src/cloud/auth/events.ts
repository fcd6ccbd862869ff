/**
 * What the sign-in services tell the app-session cache (auth/app-sessions.ts)
 * the moment it happens, so an app cookie stops working at once rather than
 * when a cache entry ages out: sessions ended (logout, revoke, expiry, password
 * change), a user changed (role, password, deletion), an app's access changed.
 */
export interface AuthListener {
  sessionsEnded?(sessionIds: readonly string[]): void;
  userChanged?(userId: string): void;
  appAccessChanged?(appId: string): void;
}

export class AuthEvents {
  private readonly listeners = new Set<AuthListener>();

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: AuthListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  sessionsEnded(sessionIds: readonly string[]): void {
    if (sessionIds.length === 0) return;
    for (const l of this.listeners) l.sessionsEnded?.(sessionIds);
  }

  userChanged(userId: string): void {
    for (const l of this.listeners) l.userChanged?.(userId);
  }

  appAccessChanged(appId: string): void {
    for (const l of this.listeners) l.appAccessChanged?.(appId);
  }
}
