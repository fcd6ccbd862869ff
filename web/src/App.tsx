import { useEffect } from 'react';
import { Layout } from './components/Layout.js';
import { ErrorNote, Loading } from './components/ui.js';
import { navigate, useRoute } from './navigation.js';
import { AccessPage } from './pages/Access.js';
import { AppsPage } from './pages/Apps.js';
import { CertificatesPage } from './pages/Certificates.js';
import { JoinPage } from './pages/Join.js';
import { LoginPage } from './pages/Login.js';
import { LogsPage } from './pages/Logs.js';
import { OpenAppPage } from './pages/OpenApp.js';
import { PasswordForm } from './pages/Password.js';
import { SettingsPage } from './pages/Settings.js';
import { StorePage } from './pages/Store.js';
import { UsersPage } from './pages/Users.js';
import type { Route } from './routes.js';
import { useSession } from './session.js';

export function App() {
  const route = useRoute();
  const { user, error } = useSession();

  useEffect(() => {
    if (user && route.page === 'login') navigate({ page: 'apps' });
  }, [user, route.page]);

  if (user === undefined) {
    return (
      <main className="narrow">
        <Loading what="the console" />
      </main>
    );
  }
  if (route.page === 'join') return <JoinPage code={route.code} />;
  if (!user) {
    // Not signed in: the sign-in form in place of the page, which shows once
    // signed in (so #/open/<app> goes on to the app).
    return (
      <>
        {error ? (
          <div className="narrow">
            <ErrorNote error={error} />
          </div>
        ) : null}
        <LoginPage continuesTo={route.page === 'login' ? null : route} />
      </>
    );
  }
  if (user.must_change_password) {
    return (
      <Layout route={route}>
        <h1>Choose a new password</h1>
        <p>Your password was set by someone else. Choose your own before you go on.</p>
        <PasswordForm />
      </Layout>
    );
  }
  return (
    <Layout route={route}>
      <Page route={route} admin={user.role === 'admin'} />
    </Layout>
  );
}

function Page({ route, admin }: { route: Route; admin: boolean }) {
  const adminOnly = <p className="notice">Only an admin can see this page.</p>;
  switch (route.page) {
    case 'apps':
    case 'login':
      return <AppsPage />;
    case 'logs':
      return admin ? <LogsPage app={route.app} /> : adminOnly;
    case 'access':
      return admin ? <AccessPage app={route.app} /> : adminOnly;
    case 'store':
      return <StorePage />;
    case 'users':
      return admin ? <UsersPage /> : adminOnly;
    case 'certificates':
      return <CertificatesPage />;
    case 'settings':
      return <SettingsPage />;
    case 'open':
      return <OpenAppPage app={route.app} />;
    case 'join':
      return null;
    case 'not-found':
      return (
        <>
          <h1>Page not found</h1>
          <p>
            There is no page <code>{route.path}</code>. <a href="#/apps">Go to your apps</a>.
          </p>
        </>
      );
  }
}
