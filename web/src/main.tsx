import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError } from './api/client';
import { App } from './app';
import { SignIn } from './pages/sign-in';
import { SessionGate } from './session';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change on retry; a 503 during a restore's swap will, quickly.
      retry: (count, err) => count < 2 && (!(err instanceof ApiError) || err.status === 503 || err.status === 0),
      retryDelay: 500,
      refetchOnWindowFocus: true,
      staleTime: 1000,
    },
    mutations: { retry: false },
  },
});

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <SessionGate signIn={(props) => <SignIn {...props} />}>
          <App />
        </SessionGate>
      </QueryClientProvider>
    </StrictMode>,
  );
}
