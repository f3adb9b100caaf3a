using Xunit;
using Probe.Data;

namespace Probe.Tests.Data;

public class CsvTests
{
    static Dataset ReadText(string text, string label = "last", bool? header = null)
    {
        using var t = new TempDir();
        File.WriteAllText(t.File("d.csv"), text);
        return Csv.Read(t.File("d.csv"), label, header);
    }

    [Fact]
    public void NoHeader_LabelLast()
    {
        var d = ReadText("1,2.5,0\n-3e2,4,1\n\n5,.5,2\n");
        Assert.Equal((3, 2), (d.Features.Rows, d.Features.Cols));
        Assert.Equal(new float[] { 1, 2.5f, -300, 4, 5, 0.5f }, d.Features.Data);
        Assert.Equal([0, 1, 2], d.Labels!);
        Assert.Equal([2], d.SampleShape);
        Assert.Equal("d", d.Name);
    }

    [Fact]
    public void Header_DetectedAndLabelByName()
    {
        var d = ReadText("a,species,b\r\n1,2,3\r\n4,0,6\r\n", label: "species");
        Assert.Equal(new float[] { 1, 3, 4, 6 }, d.Features.Data);
        Assert.Equal([2, 0], d.Labels!);
    }

    [Fact]
    public void LabelFirst_IndexAndNone()
    {
        Assert.Equal([7, 8], ReadText("7,1,2\n8,3,4", "first").Labels!);
        Assert.Equal([1, 3], ReadText("7,1,2\n8,3,4", "1").Labels!);
        var none = ReadText("7,1,2\n8,3,4", "none");
        Assert.Null(none.Labels);
        Assert.Equal(3, none.Features.Cols);
    }

    [Fact]
    public void TextLabels_AreNumberedInSortedOrder_AndHeaderIsDetected()
    {
        var d = ReadText("x,y,class\n1,2,setosa\n3,4,virginica\n5,6,setosa\n");
        Assert.Equal([0, 1, 0], d.Labels!);
        Assert.Equal(["setosa", "virginica"], d.ClassNames!);   // the names stay, for reports and legends
        var noHeader = ReadText("1,2,b\n3,4,a\n");
        Assert.Equal(2, noHeader.Count);
        Assert.Equal([1, 0], noHeader.Labels!);
        Assert.Equal(["a", "b"], noHeader.ClassNames!);
        // Labels that are numbers but not all non-negative integers are numbered in numeric order (as text "10" < "9").
        var numbers = ReadText("1,2,10\n3,4,9\n5,6,-1\n7,8,9\n");
        Assert.Equal([2, 1, 0, 1], numbers.Labels!);
        Assert.Equal(["-1", "9", "10"], numbers.ClassNames!);
        // Non-negative integers are the labels themselves, with no names.
        Assert.Null(ReadText("1,2,3\n4,5,0\n").ClassNames);
    }

    [Fact]
    public void QuotedFields_TabsAndForcedHeader()
    {
        var d = ReadText("\"1\",\"2\",\"0\"\n3,4,1\n");
        Assert.Equal(new float[] { 1, 2, 3, 4 }, d.Features.Data);
        var tabs = ReadText("1\t2\t1\n3\t4\t0\n");
        Assert.Equal([1, 0], tabs.Labels!);
        var forced = ReadText("10,20,1\n3,4,0\n", header: true, label: "none");
        Assert.Equal(1, forced.Count);
    }

    [Fact]
    public void NonNumericValue_ReportsLineAndColumn()
    {
        var e = Assert.Throws<ProbeException>(() => ReadText("a,b,c\n1,2,0\n3,x,1\n"));
        Assert.Contains("line 3", e.Message);
        Assert.Contains("column 2", e.Message);
        Assert.Contains("'x'", e.Message);
        Assert.Contains("line 2", Assert.Throws<ProbeException>(() => ReadText("1,2,0\n1,nan,1\n")).Message);
    }

    [Fact]
    public void RaggedRow_ReportsLine()
    {
        var e = Assert.Throws<ProbeException>(() => ReadText("1,2,0\n3,4,1\n5,1\n"));
        Assert.Contains("line 3", e.Message);
        Assert.Contains("ragged", e.Message);
    }

    [Fact]
    public void BadLabelSpecs_AreClear()
    {
        Assert.Contains("columns are a, b", Assert.Throws<ProbeException>(() => ReadText("a,b\n1,2\n", "zzz")).Message);
        Assert.Contains("outside 0..1", Assert.Throws<ProbeException>(() => ReadText("1,2\n3,4\n", "5")).Message);
        Assert.Contains("empty", Assert.Throws<ProbeException>(() => ReadText("\n\n")).Message);
        Assert.Contains("does not exist", Assert.Throws<ProbeException>(() => Csv.Read("/nonexistent/x.csv")).Message);
    }
}
