#include "engine/cells/jetstream.h"

#include <nats/nats.h>

namespace flashsaga::cells {
namespace {

constexpr int consumers_max = 8;
constexpr std::int64_t reconnect_wait_ms = 200;
constexpr std::int64_t connect_timeout_ms = 2000;
constexpr std::int64_t publish_wait_ms = 3000;

std::string why(natsStatus s, jsErrCode code) {
  std::string text = natsStatus_GetText(s);
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') text += ": " + std::string(last);
  return text;
}

class NatsDelivery final : public Delivery {
 public:
  explicit NatsDelivery(natsMsg* m) : m_(m) {}
  const void* data() const noexcept override { return natsMsg_GetData(m_); }
  std::size_t size() const noexcept override {
    return static_cast<std::size_t>(natsMsg_GetDataLength(m_));
  }
  std::uint64_t deliveries() const noexcept override {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m_) != NATS_OK) return 1;
    const std::uint64_t n = meta->NumDelivered;
    jsMsgMetaData_Destroy(meta);
    return n;
  }
  bool ack() noexcept override { return natsMsg_AckSync(m_, nullptr, nullptr) == NATS_OK; }

 private:
  natsMsg* m_;
};

class Nats final : public JetStream {
 public:
  ~Nats() override {
    for (natsSubscription* s : subs_) natsSubscription_Destroy(s);
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
  }

  bool open(const std::vector<std::string>& servers, const std::string& name, std::string* error) {
    natsOptions* opts = nullptr;
    std::vector<const char*> urls;
    for (const std::string& s : servers) urls.push_back(s.c_str());
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
    if (s == NATS_OK) s = natsOptions_SetName(opts, name.c_str());
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, reconnect_wait_ms);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, connect_timeout_ms);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, nullptr, nullptr);
    if (s == NATS_OK) s = natsConnection_Connect(&nc_, opts);
    natsOptions_Destroy(opts);
    if (s == NATS_OK || s == NATS_NOT_YET_CONNECTED)
      s = natsConnection_JetStream(&js_, nc_, nullptr);
    if (s != NATS_OK) *error = "cannot connect to NATS: " + why(s, static_cast<jsErrCode>(0));
    return s == NATS_OK;
  }

  bool ensure_stream(const std::string& stream, const std::string& subjects, int replicas,
                     std::string* error) override {
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char* subj[] = {subjects.c_str()};
    sc.Name = stream.c_str();
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = replicas;
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_AddStream(&si, js_, &sc, nullptr, &code);
    if (si != nullptr) jsStreamInfo_Destroy(si);
    if (s == NATS_OK || code == JSStreamNameExistErr) return true;
    *error = "cannot create stream " + stream + ": " + why(s, code);
    return false;
  }

  bool publish(const std::string& subject, const void* data, std::size_t size,
               const std::string& msg_id, std::string* error) override {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id.c_str();
    po.MaxWait = publish_wait_ms;
    jsPubAck* pa = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s =
        js_Publish(&pa, js_, subject.c_str(), data, static_cast<int>(size), &po, &code);
    if (pa != nullptr) jsPubAck_Destroy(pa);
    if (s != NATS_OK) *error = "publish to " + subject + ": " + why(s, code);
    return s == NATS_OK;
  }

  int pull_consumer(const std::string& stream, const std::string& filter,
                    const std::string& durable, std::int64_t ack_wait_ms,
                    std::string* error) override {
    if (subs_.size() >= consumers_max) {
      *error = "too many consumers";
      return -1;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = ack_wait_ms * 1'000'000;
    so.Config.FilterSubject = filter.c_str();
    natsSubscription* sub = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s =
        js_PullSubscribe(&sub, js_, filter.c_str(), durable.c_str(), nullptr, &so, &code);
    if (s != NATS_OK) {
      *error = "cannot bind consumer " + durable + ": " + why(s, code);
      return -1;
    }
    subs_.push_back(sub);
    return static_cast<int>(subs_.size()) - 1;
  }

  int fetch(int consumer, int batch, std::int64_t timeout_ms,
            const std::function<void(Delivery&)>& fn, std::string* error) override {
    natsMsgList list{};
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = natsSubscription_Fetch(&list, subs_[static_cast<std::size_t>(consumer)],
                                                batch, timeout_ms, &code);
    if (s == NATS_TIMEOUT) return 0;
    if (s != NATS_OK) {
      *error = "fetch: " + why(s, code);
      return -1;
    }
    for (int i = 0; i < list.Count; ++i) {
      NatsDelivery d(list.Msgs[i]);
      fn(d);
    }
    const int n = list.Count;
    natsMsgList_Destroy(&list);
    return n;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::vector<natsSubscription*> subs_;
};

}  // namespace

std::unique_ptr<JetStream> JetStream::connect(const std::vector<std::string>& servers,
                                              const std::string& name, std::string* error) {
  auto n = std::make_unique<Nats>();
  if (!n->open(servers, name, error)) return nullptr;
  return n;
}

}  // namespace flashsaga::cells
