//! Networks and their training: candle layers and fast CPU kernels, RMSprop, the training loop.
