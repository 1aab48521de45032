/** The `--adapter` flag that logits, generate, serve and eval share: a LoRA adapter put on the loaded model. */
export const ADAPTER_HELP =
  'a LoRA adapter folder (adapter_config.json + adapter_model.safetensors, from --lora runs or PEFT) applied to the model';
