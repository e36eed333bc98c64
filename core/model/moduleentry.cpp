// libunisearch-torch.so: the LibTorch side of core/model (us_model_torch, linked whole
// through its entry point unisearch_model_backend_v1, defined in backendimpl.cpp). This
// file only gives the module a source of its own.
