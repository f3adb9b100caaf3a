using LayerCorrespondence;
using Xunit;

namespace Probe.Tests.Examples;

/// <summary>
/// A small run of examples/LayerCorrespondence (Kornblith et al. 2019, Table 2): across CNNs trained from different
/// seeds, CKA finds the corresponding layer more often than the linear-regression and mean-CCA baselines.
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class LayerCorrespondenceTests
{
    [Fact]
    public void CkaFindsCorrespondingLayersMoreOftenThanTheBaselines()
    {
        var settings = new CorrespondenceSettings(Seeds: 3, Epochs: 2, MaxSamples: 120) { Architectures = ["cnn"], Datasets = ["digits"], CnnWidths = [8, 16, 32] };
        var log = new StringWriter();
        var result = LayerCorrespondenceStudy.Run(settings, log);

        var row = Assert.Single(result.Rows);
        Assert.Equal(["relu1", "pool1", "relu2", "pool2", "relu3", "fc2"], row.Layers);
        Assert.All(row.Measures, m => Assert.Equal(3 * 2 * 6, m.Total)); // ordered pairs x layers
        double linear = row.Measures[0].Accuracy, rbf = row.Measures[1].Accuracy;
        double regression = row.Measures[2].Accuracy, cca = row.Measures[3].Accuracy;
        Assert.True(linear > regression && linear > cca, log.ToString());
        Assert.True(rbf > regression && rbf > cca, log.ToString());
        Assert.Contains("Kornblith 2019", log.ToString());
    }
}
