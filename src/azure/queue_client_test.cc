#include "azure/queue_client.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(QueueClientXmlTest, ParsesAGetMessagesAnswer) {
  auto list = ParseMessageList(
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessagesList><QueueMessage>"
      "<MessageId>5974b586-0df3-4e2d-ad0c-18e3892bfca2</MessageId>"
      "<InsertionTime>Fri, 09 Oct 2009 21:04:30 GMT</InsertionTime>"
      "<ExpirationTime>Fri, 16 Oct 2009 21:04:30 GMT</ExpirationTime>"
      "<PopReceipt>YzQ4Yzg1MDItYTc0Ny00OWNjLTkxYTUtZGM0MDFiZDAwYzEw</PopReceipt>"
      "<TimeNextVisible>Fri, 09 Oct 2009 23:29:20 GMT</TimeNextVisible>"
      "<DequeueCount>3</DequeueCount><MessageText>eyJpbWFnZSI6ImJ1c3lib3gifQ==</MessageText>"
      "</QueueMessage><QueueMessage><MessageId>second</MessageId>"
      "<MessageText>a &amp; &lt;b&gt;</MessageText></QueueMessage></QueueMessagesList>");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  const AzureMessage& m = (*list)[0];
  EXPECT_EQ(m.id, "5974b586-0df3-4e2d-ad0c-18e3892bfca2");
  EXPECT_EQ(m.pop_receipt, "YzQ4Yzg1MDItYTc0Ny00OWNjLTkxYTUtZGM0MDFiZDAwYzEw");
  EXPECT_EQ(m.dequeue_count, 3);
  EXPECT_EQ(m.text, "eyJpbWFnZSI6ImJ1c3lib3gifQ==");
  EXPECT_EQ(ToUnixMillis(m.inserted_at), int64_t{1255122270} * 1000);
  EXPECT_EQ(ToUnixMillis(m.next_visible), int64_t{1255130960} * 1000);
  EXPECT_EQ((*list)[1].text, "a & <b>");
}

TEST(QueueClientXmlTest, EmptyListAndMalformedAnswers) {
  auto empty = ParseMessageList("<?xml version=\"1.0\"?><QueueMessagesList />");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(ParseMessageList("<html>oops</html>").ok());
  EXPECT_FALSE(ParseMessageList("not xml <").ok());
  EXPECT_FALSE(
      ParseMessageList("<QueueMessagesList><QueueMessage></QueueMessage></QueueMessagesList>")
          .ok());
}

TEST(QueueClientXmlTest, MessageBodyEscapesItsText) {
  EXPECT_EQ(MessageXml("{\"command\":\"a && b < c\"}"),
            "<QueueMessage><MessageText>{\"command\":\"a &amp;&amp; b &lt; c\"}</MessageText>"
            "</QueueMessage>");
}

TEST(QueueClientXmlTest, ErrorDocument) {
  auto [code, message] = ParseError(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>PopReceiptMismatch</Code>"
      "<Message>The specified pop receipt did not match.\nRequestId:1</Message></Error>");
  EXPECT_EQ(code, "PopReceiptMismatch");
  EXPECT_EQ(message, "The specified pop receipt did not match.\nRequestId:1");
  EXPECT_EQ(ParseError("").first, "");
}

TEST(QueueClientXmlTest, HttpDates) {
  auto t = ParseHttpDate("Mon, 30 Nov 2026 08:00:00 GMT");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatHttpDate(*t), "Mon, 30 Nov 2026 08:00:00 GMT");
  EXPECT_FALSE(ParseHttpDate("2026-11-30T08:00:00Z").has_value());
  EXPECT_FALSE(ParseHttpDate("Mon, 30 Nov 2026 08:00:00 GMT junk").has_value());
}

}  // namespace
}  // namespace berth
