using Probe.Data;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// The exact command lines: <c>probe capture</c> of a cnn:3x32x32:10 over an ImageFolder tree and CIFAR-10
/// binary files, normalised with mean 0.5 and std 0.25. The activations equal what PyTorch's hooks gave for the same
/// weights on torchvision's ImageFolder / NumPy's CIFAR decoding (tests/fixtures/cnn_images/make_cnn_images.py).
/// </summary>
public class StreamedDataCaptureTests : IDisposable
{
    readonly string _out = Path.Combine(Path.GetTempPath(), "probe-capture-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_out)) Directory.Delete(_out, true); }

    static string F(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "cnn_images", name);

    [Theory]
    [InlineData("images:{0}?mean=0.5&std=0.25", "tree", "tree")]
    [InlineData("cifar:{0}?split=train&mean=0.5&std=0.25", "cifar10", "cifar_train")]
    public void CaptureOfACnnOverStreamedImagesEqualsPyTorch(string spec, string dir, string stem)
    {
        var (code, _, err) = Probe.Tests.Cli.Cli.Run("capture", "--model", "cnn:3x32x32:10", "--weights", F("cnn.safetensors"),
            "--data", string.Format(System.Globalization.CultureInfo.InvariantCulture, spec, F(dir)), "--layers", "conv1,fc2", "--out", _out);
        Assert.True(code == 0, err);
        ReferenceAssert.Close(Npy.ReadMatrix(F(stem + "_conv1.npy")), Npy.ReadMatrix(Path.Combine(_out, "conv1.npy")), "conv1");
        ReferenceAssert.Close(Npy.ReadMatrix(F(stem + "_fc2.npy")), Npy.ReadMatrix(Path.Combine(_out, "fc2.npy")), "fc2");
        Assert.Equal(Npy.ReadInt32(F(stem + "_labels.npy")), Npy.ReadInt32(Path.Combine(_out, "labels.npy")));
    }
}
