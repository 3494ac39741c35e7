"""The network: quantizers, the recurrent attention model, its training and checkpoint folders."""
