"""A two-layer fully-connected neural network, trained with minibatch SGD."""
import os

import numpy as np

SAVED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved")


class TwoLayerNet(object):
    """
    A two-layer fully-connected neural network. The net has an input dimension of
    N, a hidden layer dimension of H, and performs classification over C classes.
    We train the network with a softmax loss function and L2 regularization on the
    weight matrices. The network uses a ReLU nonlinearity after the first fully
    connected layer.

    In other words, the network has the following architecture:

    input - fully connected layer - ReLU - fully connected layer - softmax

    The outputs of the second fully-connected layer are the scores for each class.
    """

    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        """
        Initialize the model. Weights are initialized to small random values and
        biases are initialized to zero. Weights and biases are stored in the
        variable self.params, which is a dictionary with the following keys:

        W1: First layer weights; has shape (D, H)
        b1: First layer biases; has shape (H,)
        W2: Second layer weights; has shape (H, C)
        b2: Second layer biases; has shape (C,)

        Inputs:
        - input_size: The dimension D of the input data.
        - hidden_size: The number of neurons H in the hidden layer.
        - output_size: The number of classes C.
        - std: Scale of the Gaussian used to initialize the weights.
        """
        self.params = {}
        self.params['W1'] = std * np.random.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = std * np.random.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        """
        Compute the loss and gradients for a two layer fully connected neural
        network.

        Inputs:
        - X: Input data of shape (N, D). Each X[i] is a training sample.
        - y: Vector of training labels, of shape (N,). y[i] is the label for X[i],
          and each y[i] is an integer in the range 0 <= y[i] < C. This parameter is
          optional; if it is not passed then we only return scores, and if it is
          passed then we instead return the loss and gradients.
        - reg: Regularization strength.

        Returns:
        If y is None, return a matrix scores of shape (N, C) where scores[i, c] is
        the score for class c on input X[i].

        If y is not None, instead return a tuple of:
        - loss: Loss (data loss and regularization loss) for this batch of training
          samples.
        - grads: Dictionary mapping parameter names to gradients of those parameters
          with respect to the loss function; has the same keys as self.params.
        """
        W1, b1 = self.params['W1'], self.params['b1']
        W2, b2 = self.params['W2'], self.params['b2']
        N = X.shape[0]

        # TODO: Perform the forward pass, computing the class scores for the input.
        # Store the result in the scores variable, which should be an array of
        # shape (N, C). Keep the hidden activations: the backward pass needs them.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        hidden = np.maximum(X @ W1 + b1, 0)  # (N, H)
        scores = hidden @ W2 + b2  # (N, C)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        # If the targets are not given then jump out, we're done
        if y is None:
            return scores

        # TODO: Finish the forward pass, and compute the loss. This should include
        # both the data loss and L2 regularization for W1 and W2. Store the result
        # in the variable loss, which should be a scalar. Use the Softmax
        # classifier loss, made numerically stable by shifting each row of scores
        # by its maximum. Regularization is reg * (sum(W1**2) + sum(W2**2)),
        # without a factor of 0.5. Keep the class probabilities for the backward
        # pass.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        shifted = scores - scores.max(axis=1, keepdims=True)  # (N, C)
        exp_scores = np.exp(shifted)
        sum_exp = exp_scores.sum(axis=1, keepdims=True)  # (N, 1)
        probs = exp_scores / sum_exp  # (N, C)
        data_loss = np.mean(np.log(sum_exp[:, 0]) - shifted[np.arange(N), y])
        reg_loss = reg * (np.vdot(W1, W1) + np.vdot(W2, W2))  # sums of squares, no W * W array
        loss = data_loss + reg_loss
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        # TODO: Compute the backward pass, computing the derivatives of the weights
        # and biases. Store the results in the grads dictionary. For example,
        # grads['W1'] should store the gradient on W1, and be a matrix of the same
        # size. Remember the gradient of the regularization term.
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        dscores = probs  # (N, C); reused in place
        dscores[np.arange(N), y] -= 1
        dscores /= N
        dhidden = dscores @ W2.T  # (N, H)
        dhidden *= hidden > 0  # the ReLU's gate: zero where it was off
        grads = {
            'W1': X.T @ dhidden + 2 * reg * W1,  # (D, H)
            'b1': dhidden.sum(axis=0),  # (H,)
            'W2': hidden.T @ dscores + 2 * reg * W2,  # (H, C)
            'b2': dscores.sum(axis=0),  # (C,)
        }
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        return loss, grads

    def train(self, X, y, X_val, y_val,
              learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100,
              batch_size=200, verbose=False):
        """
        Train this neural network using stochastic gradient descent.

        Inputs:
        - X: A numpy array of shape (N, D) giving training data.
        - y: A numpy array of shape (N,) giving training labels; y[i] = c means that
          X[i] has label c, where 0 <= c < C.
        - X_val: A numpy array of shape (N_val, D) giving validation data.
        - y_val: A numpy array of shape (N_val,) giving validation labels.
        - learning_rate: Scalar giving learning rate for optimization.
        - learning_rate_decay: Scalar giving factor used to decay the learning rate
          after each epoch.
        - reg: Scalar giving regularization strength.
        - num_iters: Number of steps to take when optimizing.
        - batch_size: Number of training examples to use per step.
        - verbose: boolean; if true print progress during optimization.

        Returns a dictionary with the lists loss_history, train_acc_history and
        val_acc_history.
        """
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train // batch_size, 1)

        # Use SGD to optimize the parameters in self.model
        loss_history = []
        train_acc_history = []
        val_acc_history = []

        for it in range(num_iters):
            # TODO: Create a random minibatch of training data and labels, storing
            # them in X_batch (shape (batch_size, D)) and y_batch (shape
            # (batch_size,)). Draw a new minibatch on every iteration, with
            # np.random.choice (sampling with replacement is fine).
            # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
            batch = np.random.choice(num_train, batch_size)
            X_batch = X[batch]  # (batch_size, D)
            y_batch = y[batch]  # (batch_size,)
            # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

            # Compute loss and gradients using the current minibatch
            loss, grads = self.loss(X_batch, y=y_batch, reg=reg)
            loss_history.append(loss)

            # TODO: Use the gradients in the grads dictionary to update the
            # parameters of the network (stored in the dictionary self.params)
            # using stochastic gradient descent.
            # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
            for name, grad in grads.items():
                self.params[name] -= learning_rate * grad
            # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

            if verbose and it % 100 == 0:
                print('iteration %d / %d: loss %f' % (it, num_iters, loss))

            # Every epoch, check train and val accuracy and decay learning rate.
            if it % iterations_per_epoch == 0:
                # Check accuracy
                train_acc = (self.predict(X_batch) == y_batch).mean()
                val_acc = (self.predict(X_val) == y_val).mean()
                train_acc_history.append(train_acc)
                val_acc_history.append(val_acc)

                # Decay learning rate
                learning_rate *= learning_rate_decay

        return {
            'loss_history': loss_history,
            'train_acc_history': train_acc_history,
            'val_acc_history': val_acc_history,
        }

    def predict(self, X):
        """
        Use the trained weights of this two-layer network to predict labels for
        data points. For each data point we predict scores for each of the C
        classes, and assign each data point to the class with the highest score.

        Inputs:
        - X: A numpy array of shape (N, D) giving N D-dimensional data points to
          classify.

        Returns:
        - y_pred: A numpy array of shape (N,) giving predicted labels for each of
          the elements of X. For all i, y_pred[i] = c means that X[i] is predicted
          to have class c, where 0 <= c < C.
        """
        # TODO: Implement this function; it should be VERY simple!
        # Store the predicted labels in y_pred, an array of shape (N,).
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        y_pred = np.argmax(self.loss(X), axis=1)
        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        return y_pred

    def save(self, fname):
        """Save self.params (np.save of the dict) as cs231n/saved/<fname>, as the
        official CS231n nets do; the submission hands that file in."""
        os.makedirs(SAVED_DIR, exist_ok=True)
        np.save(os.path.join(SAVED_DIR, fname), self.params)
        print(fname, "saved.")

    def load(self, fname):
        """Load self.params from cs231n/saved/<fname>; True if it was there, else False."""
        path = os.path.join(SAVED_DIR, fname)
        if not os.path.exists(path):
            print(fname, "not available.")
            return False
        self.params = np.load(path, allow_pickle=True).item()  # a pickled dict: your own file only
        print(fname, "loaded.")
        return True
