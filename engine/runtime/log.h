// log: the one line format a domain process writes to stderr (the supervisor's log and the
// journal of systemd collect it): "flashsaga <domain>[<pid>]: <text>".
#pragma once

#include <string>

#include "ipc/message.h"

namespace flashsaga::runtime {

void log_line(ipc::Domain self, const std::string& text);

}  // namespace flashsaga::runtime
