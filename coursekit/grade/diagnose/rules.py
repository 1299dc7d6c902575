"""The rule table: each :class:`~.evidence.Rule` names its checks, the message a student reads
and its predicate (in :mod:`.nets`, :mod:`.layers`, :mod:`.optim`)."""
from __future__ import annotations

from .evidence import Rule
from .layers import (affine_not_flattened, bn_eps_outside, bn_forgets_gamma, bn_no_mean_path,
    bn_no_variance_path, bn_out, dropout_at_test, dropout_backward_unscaled, dropout_test_scaled,
    dropout_mask_shared, dropout_train, dw_shape, keepdims_shape, dx_shape, ln_backward_axis, ln_param_grads_per_example, ln_wrong_axis,
    relu_gate_on_dout, relu_reduces, running_not_updated, running_swapped)
from .nets import (bn_param_shared, init_biases, init_norm_last, init_transposed, init_uniform, init_unscaled,
    loss_at_chance, loss_rises, loss_summed, no_hidden_relu, no_max_shift, no_relu_gate, only_dropout_fails,
    predict_axis, predict_scores, reg_biases, reg_grad_ratio, reg_loss_ratio, relu_on_scores, same_minibatch,
    scaled_by_n, step_shrinks_every_iteration)
from .numeric import numeric_gradient
from .optim import (state_not_stored, update_is)

SHAPE_CHECKS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss",
                "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt", "layernorm_forward",
                "layernorm_backward", "dropout_backward", "scores", "gradients", "predict", "fc_init",
                "two_layer_init", "two_layer_scores", "two_layer_gradients", "sgd_momentum", "rmsprop", "adam")
BACKWARD_CHECKS = ("affine_backward", "relu_backward", "softmax_loss", "batchnorm_backward",
                   "batchnorm_backward_alt", "layernorm_backward", "dropout_backward")

RULES = [
    # two-layer net (TwoLayerNet of neural_net.py: scores, loss, ...; of fc_net.py, the modular flow: two_layer_*)
    Rule("no-hidden-relu", ("scores", "two_layer_scores"), "your scores match a network without its ReLU: apply "
         "the ReLU to the hidden layer (np.maximum(., 0); in the modular net, affine_relu_forward)", no_hidden_relu),
    Rule("relu-on-scores", ("scores", "fc_loss", "two_layer_scores"), "none of your scores is negative (they are the expected "
         "scores clipped at 0): the last layer is affine only, with no ReLU after it", relu_on_scores),
    Rule("reg-loss-half", ("loss", "fc_loss", "two_layer_loss"), "your regularisation loss is exactly half the expected "
         "value: check the 0.5 factor", lambda ev: reg_loss_ratio(ev, 0.5)),
    Rule("reg-loss-double", ("loss", "fc_loss", "two_layer_loss"), "your regularisation loss is exactly twice the expected "
         "value: check the 0.5 factor", lambda ev: reg_loss_ratio(ev, 2.0)),
    Rule("reg-on-biases", ("loss", "fc_loss", "two_layer_loss"), "your loss also penalises the biases: only the weights W "
         "are regularised", reg_biases),
    Rule("reg-grad-half", ("gradients", "fc_gradients", "two_layer_gradients"), "your weight gradients miss half "
         "of the regularisation gradient: the derivative of reg * sum(W**2) is 2 * reg * W (of 0.5 * reg * "
         "sum(W**2), reg * W)",
         lambda ev: reg_grad_ratio(ev, -0.5)),
    Rule("reg-grad-missing", ("gradients", "fc_gradients", "two_layer_gradients"), "your weight gradients (of "
         "one layer or all) ignore regularisation: add the derivative of the regularisation loss to every dW", lambda ev: reg_grad_ratio(ev, -1.0)),
    Rule("no-max-shift", ("loss", "softmax_loss"), "your loss is right for small scores but inf or nan "
         "when every score is near 1000, where np.exp overflows: subtract each row's max score before "
         "np.exp (the softmax does not change)", no_max_shift),
    Rule("loss-summed", ("loss", "softmax_loss", "two_layer_loss"), "your loss is exactly N times too large: "
         "average it over the N examples instead of summing", loss_summed),
    Rule("backward-no-relu-gate", ("gradients", "two_layer_gradients", "fc_gradients"), "your gradients are "
         "those of a backward pass without the ReLU: zero the hidden layers' gradient where the ReLU was inactive "
         "(relu_backward, or affine_relu_backward with the whole cache). If relu_backward passes its own check, "
         "the net calls another function of that name: one you wrote in layer_utils.py, say", no_relu_gate),
    Rule("same-minibatch", ("toy_training",), "your minibatch is the same on every iteration: draw a new "
         "random one with np.random.choice each time, without re-seeding", same_minibatch),
    Rule("loss-rises", ("toy_training",), "your training loss goes up: step against the gradient, "
         "params -= learning_rate * grad", loss_rises),
    Rule("loss-at-chance", ("toy_training",), "your training loss stays near chance level, log(C), while "
         "the minibatches change: check that the labels y_batch belong to the inputs X_batch (index X and y "
         "with the same indices)", loss_at_chance),
    Rule("lr-decay-every-step", ("toy_training",), "your first training step is right but later ones "
         "shrink: the learning rate looks decayed on every iteration. The given code decays it once per "
         "epoch, so update with learning_rate * grad", step_shrinks_every_iteration),
    Rule("predict-scores", ("predict",), "your predictions are scores, not class labels: use np.argmax "
         "over the classes", predict_scores),
    Rule("predict-wrong-axis", ("predict",), "your predictions have one entry per class instead of one per "
         "example: take the argmax over axis=1", predict_axis),
    # layers
    Rule("affine-not-flattened", ("affine_forward",), "your affine layer fails on inputs of shape "
         "(N, d_1, ..., d_k): reshape x to (N, D) with x.reshape(N, -1) first", affine_not_flattened),
    Rule("dx-not-reshaped", ("affine_backward",), "your dx has the right values but shape (N, D) instead "
         "of x's shape: reshape it to x.shape (keep the original x in the cache)", dx_shape),
    Rule("dw-not-flattened", ("affine_backward",), "your dw has the wrong shape for inputs with more than "
         "two dimensions: flatten x to (N, D) as in the forward pass before using it", dw_shape),
    Rule("grad-averaged", ("affine_backward",), "your db is exactly N times too small: sum dout over the "
         "N examples, do not average it", lambda ev: scaled_by_n(ev, "analytic", "db", -1)),
    Rule("grad-not-averaged", ("softmax_loss",), "your gradient is exactly N times too large: the loss is "
         "a mean, so divide dx by N", lambda ev: scaled_by_n(ev, "analytic", "dx", 1)),
    Rule("relu-reduces", ("relu_forward",), "your ReLU returns the max over axis 0 (np.max(x, 0)): ReLU "
         "compares each entry with 0 on its own, without reducing over an axis", relu_reduces),
    Rule("relu-gated-by-dout", ("relu_backward",), "your ReLU gradient is gated by dout instead of x: let "
         "dout through where the forward input x was positive", relu_gate_on_dout),
    Rule("bn-running-not-updated", ("batchnorm_forward",), "your running_mean and running_var never change "
         "in training: update them with the momentum formula on every forward pass", running_not_updated),
    Rule("bn-momentum-swapped", ("batchnorm_forward",), "your running averages follow the last batch too "
         "closely: keep momentum * running + (1 - momentum) * batch statistic", running_swapped),
    Rule("bn-eps-outside-sqrt", ("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt"), "your normalised values are slightly off: add eps "
         "to the variance inside the square root, 1 / sqrt(var + eps)", bn_eps_outside),
    Rule("bn-test-batch-stats", ("batchnorm_forward",), "at test time you normalise with the batch "
         "statistics: use running_mean and running_var in test mode", lambda ev: bn_out(ev, "c1")),
    Rule("bn-dx-no-mean-path", ("batchnorm_backward",), "your dx misses the path through the batch mean: "
         "the mean depends on every example, so subtract the mean of dx_mu over the batch", bn_no_mean_path),
    Rule("bn-dx-no-variance-path", ("batchnorm_backward", "batchnorm_backward_alt"), "your dx misses the "
         "path through the batch variance: add its term (x_hat * mean(dx_hat * x_hat) in the simplified "
         "form)", bn_no_variance_path),
    Rule("bn-dx-forgets-gamma", ("batchnorm_backward", "batchnorm_backward_alt"), "your dx is right only "
         "when gamma is 1: the gradient on x_hat is dout * gamma", bn_forgets_gamma),
    Rule("ln-wrong-axis", ("layernorm_forward",), "you normalise each feature over the batch, as batch norm "
         "does: layer norm takes the mean and variance of each example, over axis=1", ln_wrong_axis),
    Rule("ln-backward-batch-axis", ("layernorm_backward",), "your layer norm dx takes its means over the "
         "batch: in layer norm they are over the features of each example (axis=1, keepdims=True)",
         ln_backward_axis),
    Rule("ln-param-grads-per-example", ("layernorm_backward",), "your dgamma and dbeta have one entry per "
         "example: gamma and beta act per feature, so sum over the N examples (axis=0)",
         ln_param_grads_per_example),
    Rule("dropout-not-inverted", ("dropout_forward",), "your dropout output is p times too small on "
         "average: in inverted dropout divide the mask by p, so the expected output equals x",
         lambda ev: dropout_train(ev, lambda p: p, lambda p: p)),
    Rule("dropout-keeps-1-minus-p", ("dropout_forward",), "your dropout keeps a fraction 1 - p of the "
         "units: p is the probability of keeping a unit, so keep where rand < p",
         lambda ev: dropout_train(ev, lambda p: 1 - p, lambda p: (1 - p) / p)),
    Rule("dropout-drop-probability", ("dropout_forward",), "your dropout keeps a fraction 1 - p of the "
         "units and scales by 1 / (1 - p): that is p as the probability of dropping a unit (CS231n before "
         "2018); in this course p is the probability of keeping one: keep where rand < p and divide by p",
         lambda ev: dropout_train(ev, lambda p: 1 - p, lambda p: 1.0)),
    Rule("dropout-mask-shared", ("dropout_forward",), "every example gets the same dropout mask: draw "
         "it with the full shape of x, np.random.rand(*x.shape) < p", dropout_mask_shared),
    Rule("dropout-at-test", ("dropout_forward",), "your dropout drops units at test time: in test mode "
         "return x unchanged", dropout_at_test),
    Rule("dropout-test-scaled", ("dropout_forward",), "your test-mode output is x * p: with inverted "
         "dropout the scaling happens in training, so test mode returns x unchanged", dropout_test_scaled),
    Rule("dropout-grad-unscaled", ("dropout_backward",), "your dropout gradient is p times too small: "
         "the gradient flows through the same mask as the forward pass, divided by p too",
         dropout_backward_unscaled),
    Rule("numeric-gradient", BACKWARD_CHECKS, "your gradient is computed numerically, by finite differences "
         "of the forward pass: derive dx (and every other gradient) analytically with the chain rule; a numeric "
         "gradient is what the checker uses, not what the assignment asks for", numeric_gradient),
    Rule("keepdims-shape", SHAPE_CHECKS, "your values are right, but an array has an extra axis of length "
         "1 (for example (1, M) instead of (M,), as np.sum(..., keepdims=True) gives): return the shape "
         "the docstring gives, e.g. with np.sum(dout, axis=0)", keepdims_shape),
    # update rules
    Rule("momentum-sign", ("sgd_momentum",), "your momentum update climbs the gradient: with "
         "next_w = w + v, the velocity is momentum * v - learning_rate * dw", update_is(sign=1.0)),
    Rule("state-not-stored", ("sgd_momentum", "rmsprop", "adam"), "your first step is right but later "
         "ones are not: the state in config (e.g. config['velocity']) never changes; store the new value "
         "back in config", state_not_stored),
    Rule("rmsprop-eps-in-sqrt", ("rmsprop",), "your RMSProp steps are too small when gradients are tiny: "
         "add epsilon after the square root, sqrt(cache) + epsilon", update_is(eps_inside=True)),
    Rule("rmsprop-decay-swapped", ("rmsprop",), "your RMSProp cache follows the latest squared gradient: "
         "keep decay_rate * cache + (1 - decay_rate) * dw**2", update_is(swapped=True)),
    Rule("adam-t-late", ("adam",), "bias-corrected moments look one step behind: increment t before "
         "using it", update_is(late_t=True)),
    Rule("adam-no-bias-correction", ("adam",), "your Adam steps match an update without bias correction: "
         "divide m by (1 - beta1**t) and v by (1 - beta2**t)", update_is(corrected=False)),
    # TwoLayerNet.loss and FullyConnectedNet.loss
    Rule("numeric-net-gradient", ("gradients", "fc_gradients", "two_layer_gradients"), "your loss computes grads numerically, by "
         "finite differences of the forward pass (in the loss itself or in a layer's backward function it calls): "
         "backpropagate analytically, from the scores back through every layer; a numeric gradient is what the "
         "checker uses, not what the assignment asks for", numeric_gradient),
    # FullyConnectedNet.loss
    Rule("fc-dropout-backward", ("fc_gradients",), "your gradients are right without dropout and wrong with "
         "it: pass the gradient back through dropout_backward for every hidden layer", only_dropout_fails),
    Rule("bn-param-shared", ("fc_loss", "fc_gradients"), "your batch norm layers fail with running averages of "
         "another layer's size: give layer i its own bn_param, self.bn_params[i - 1]", bn_param_shared),
    # FullyConnectedNet.__init__ and the modular TwoLayerNet.__init__
    Rule("init-not-scaled", ("fc_init", "two_layer_init"), "your initial weights have standard deviation 1: multiply "
         "np.random.randn by weight_scale", init_unscaled),
    Rule("init-biases-not-zero", ("fc_init", "two_layer_init"), "your initial biases are not zero: initialise every b{i} "
         "with np.zeros", init_biases),
    Rule("init-norm-on-last-layer", ("fc_init",), "you create gamma and beta for the output layer, which "
         "has no normalisation: only layers 1 to L-1 have them", init_norm_last),
    Rule("init-uniform", ("fc_init", "two_layer_init"), "your initial weights are all positive, as "
         "np.random.rand draws them (uniform on [0, 1)): draw them with np.random.randn, a Gaussian centred at 0, "
         "times weight_scale", init_uniform),
    Rule("init-transposed", ("fc_init", "two_layer_init"), "a weight matrix has its two axes swapped: W1 must "
         "have shape (input_dim, hidden_dim), and each W{i} (inputs of its layer, outputs of its layer), so that "
         "X @ W1 gives the hidden layer", init_transposed),
]
RULE_IDS = frozenset(rule.id for rule in RULES)
