import { Component, type ReactNode } from 'react';
import { Alert } from 'antd';

/** Keeps one broken page from blanking the whole app; shows what went wrong. */
export class ErrorBoundary extends Component<{ children: ReactNode; title: string; resetKey?: string }, { error: Error | null }> {
  state = { error: null as Error | null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  componentDidUpdate(prev: { resetKey?: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  render() {
    if (this.state.error) {
      return <Alert type="error" showIcon role="alert" message={this.props.title} description={this.state.error.message} />;
    }
    return this.props.children;
  }
}
