import { useState } from 'react';
import { Alert, App, Form, Input, Modal } from 'antd';
import { api, errorMessage, unwrap } from '../api';
import { useI18n } from '../i18n';

/** Changing the password ends every session, this one included: sign in again. */
export function ChangePasswordDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const [form] = Form.useForm();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(v: { current: string; next: string }) {
    setBusy(true);
    setError(null);
    try {
      await unwrap(api.client.POST('/v1/me/password', { body: { current_password: v.current, new_password: v.next } }));
      form.resetFields();
      onClose();
      message.success(t('password.changed'));
      api.forget();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal open={open} title={t('password.title')} okText={t('password.submit')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={busy} onCancel={() => { form.resetFields(); setError(null); onClose(); }} destroyOnHidden>
      <Alert type="info" showIcon message={t('password.signOutNote')} style={{ marginBottom: 16 }} />
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} role="alert" />}
      <Form form={form} layout="vertical" onFinish={submit}>
        <Form.Item name="current" label={t('password.current')} rules={[{ required: true, message: t('form.required') }]}>
          <Input.Password autoComplete="current-password" />
        </Form.Item>
        <Form.Item name="next" label={t('password.new')}
          rules={[{ required: true, message: t('form.required') }, { min: 10, message: t('password.tooShort') }]}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        <Form.Item name="confirm" label={t('password.confirm')} dependencies={['next']}
          rules={[{ required: true, message: t('form.required') },
            ({ getFieldValue }) => ({
              validator: (_, v) => (!v || v === getFieldValue('next') ? Promise.resolve() : Promise.reject(new Error(t('password.mismatch')))),
            })]}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
      </Form>
    </Modal>
  );
}
